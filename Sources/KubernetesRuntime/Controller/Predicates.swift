public import KubernetesModels

/// Decides whether a change of an object should be reconciled: `old` is the
/// cached object before the change (nil if new), `new` after it (nil if deleted).
public struct Predicate<K: KubernetesObject>: Sendable {
    /// The decision.
    public let evaluate: @Sendable (_ old: K?, _ new: K?) -> Bool

    /// A predicate from a function.
    public init(_ evaluate: @escaping @Sendable (_ old: K?, _ new: K?) -> Bool) { self.evaluate = evaluate }

    /// Every change.
    public static var always: Predicate { Predicate { _, _ in true } }

    /// Creations, deletions, spec changes (`metadata.generation`) and the start
    /// of a deletion — not status or metadata-only writes, so a controller's own
    /// status writes do not trigger it again. Kinds without a generation fall
    /// back to resourceVersion changes.
    public static var generationChanged: Predicate {
        Predicate { old, new in
            guard let old, let new else { return true }
            if old.metadata.deletionTimestamp != new.metadata.deletionTimestamp { return true }
            guard let newGeneration = new.metadata.generation else {
                return old.metadata.resourceVersion != new.metadata.resourceVersion
            }
            return old.metadata.generation != newGeneration
        }
    }

    /// Changes of labels (or creation and deletion).
    public static var labelsChanged: Predicate {
        Predicate { old, new in
            guard let old, let new else { return true }
            return old.metadata.labels != new.metadata.labels
        }
    }

    /// Either predicate.
    public func or(_ other: Predicate) -> Predicate {
        Predicate { old, new in self.evaluate(old, new) || other.evaluate(old, new) }
    }

    /// Both predicates.
    public func and(_ other: Predicate) -> Predicate {
        Predicate { old, new in self.evaluate(old, new) && other.evaluate(old, new) }
    }
}
