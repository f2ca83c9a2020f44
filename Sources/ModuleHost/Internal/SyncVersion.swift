import ModuleHostAPI

/// Orders the syncs a host receives: by the sender's leadership term first, then by
/// generation, so the operator that leads now always wins over an older leader however
/// large the older one's generations are.
struct SyncVersion: Comparable, Sendable {
    let term: Int64
    let generation: Int64

    init(_ desired: DesiredNodes) {
        term = desired.term ?? 0
        generation = desired.generation
    }

    static func < (lhs: SyncVersion, rhs: SyncVersion) -> Bool {
        (lhs.term, lhs.generation) < (rhs.term, rhs.generation)
    }
}
