/// The state of ``QueueSignals``, without locks or tasks: generations per key and the
/// waiters parked on them.
///
/// A waiter is parked only while its key's generation is still the one it saw; a signal
/// gives the key a new generation and hands back every waiter of the key to resume; a
/// cancelled waiter (or one whose id was reserved but that never parked) is removed by id,
/// and a cancellation that comes before the parking makes the parking refuse (the id is
/// marked).
///
/// Generations come from one counter for all keys, so a key never gets a generation it had
/// before, even after it was forgotten: a key without an entry (never signalled, or
/// forgotten) has the generation of the last ``forget(_:)`` (0 before any). A waiter that read
/// a generation before its key was forgotten (or forgotten and signalled again) finds it
/// changed and does not park — had forgetting reset keys to 0, it would park on a
/// generation that looks unchanged, and miss both the forgetting and the signals after it.
/// The price: forgetting one key changes the generation of every key without an entry, so
/// their waiters that had not parked yet wake once for nothing (signals coalesce anyway).
struct QueueSignalsStateMachine<Key: Hashable, Waiter> {
    private var generations: [Key: UInt64] = [:]
    private var waiters: [Key: [UInt64: Waiter]] = [:]
    /// Ids reserved that have not parked (or refused to) yet.
    private var reserved: Set<UInt64> = []
    /// Reserved ids cancelled before they parked.
    private var cancelledBeforeParking: Set<UInt64> = []
    private var nextID: UInt64 = 0
    /// The last generation handed out, to any key.
    private var lastGeneration: UInt64 = 0
    /// The generation of keys without an entry: the one the last `forget` took.
    private var forgottenGeneration: UInt64 = 0

    /// A number that changes whenever `key` is signalled or forgotten (and never comes back).
    func generation(_ key: Key) -> UInt64 { generations[key] ?? forgottenGeneration }

    /// An id for a waiter about to park.
    mutating func reserve() -> UInt64 {
        nextID += 1
        reserved.insert(nextID)
        return nextID
    }

    /// Parks `waiter` on `key` unless the key's generation is no longer `seen` or the id was
    /// cancelled; returns whether it parked (else the caller resumes it at once).
    mutating func park(_ waiter: Waiter, id: UInt64, for key: Key, after seen: UInt64) -> Bool {
        reserved.remove(id)
        if cancelledBeforeParking.remove(id) != nil { return false }
        guard generation(key) == seen else { return false }
        waiters[key, default: [:]][id] = waiter
        return true
    }

    /// Gives `key` a new generation; returns its waiters, now removed.
    mutating func signal(_ key: Key) -> [Waiter] {
        lastGeneration &+= 1
        generations[key] = lastGeneration
        guard let parked = waiters.removeValue(forKey: key) else { return [] }
        return Array(parked.values)
    }

    /// Removes the waiter `id` of `key` and returns it; marks the id if it has not parked yet.
    mutating func cancel(_ id: UInt64, for key: Key) -> Waiter? {
        if let waiter = waiters[key]?.removeValue(forKey: id) {
            if waiters[key]?.isEmpty == true { waiters[key] = nil }
            return waiter
        }
        if reserved.remove(id) != nil { cancelledBeforeParking.insert(id) }
        return nil
    }

    /// Drops `key`'s entry (its generation becomes a new one, shared by every key without an
    /// entry); returns its waiters, now removed.
    mutating func forget(_ key: Key) -> [Waiter] {
        lastGeneration &+= 1
        forgottenGeneration = lastGeneration
        generations[key] = nil
        return Array((waiters.removeValue(forKey: key) ?? [:]).values)
    }

    /// Whether nothing is kept per key or waiter (no generations, no waiters; the two counters
    /// do not grow with keys).
    var isEmpty: Bool { generations.isEmpty && waiters.isEmpty && reserved.isEmpty && cancelledBeforeParking.isEmpty }
}
