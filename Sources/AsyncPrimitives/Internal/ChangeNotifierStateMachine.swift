/// The whole state of a ``ChangeNotifier``, with no locks and no I/O: which
/// subscribers have a change they have not taken yet, and which of them wait.
///
/// Generic over the token that stands for a suspended subscriber, so tests
/// drive it with plain values. Invariants (checked by `checkInvariants()`):
/// - a subscriber waits only while it has no pending change;
/// - `everyoneTold` is true exactly when every subscriber has a pending change
///   (so a further change has nobody new to tell, and the notifier's fast path
///   may skip the lock).
struct ChangeNotifierStateMachine<Waiter> {
    struct Subscriber {
        var pending: Bool
        var waiter: Waiter?
    }

    private(set) var subscribers: [UInt64: Subscriber] = [:]
    private var nextID: UInt64 = 0

    init() {}

    /// Whether every subscriber already has a change to take.
    var everyoneTold: Bool { subscribers.values.allSatisfy(\.pending) }

    /// A new subscriber; its first ``take(_:waiter:)`` returns at once, so it starts from the current state.
    mutating func subscribe() -> UInt64 {
        nextID += 1
        subscribers[nextID] = Subscriber(pending: true, waiter: nil)
        return nextID
    }

    /// Removes a subscriber; returns its waiter to resume, if it was waiting.
    mutating func unsubscribe(_ id: UInt64) -> Waiter? {
        subscribers.removeValue(forKey: id)?.waiter
    }

    /// Something changed: every subscriber gets a pending change; returns the waiters to resume.
    mutating func changed() -> [Waiter] {
        var woken: [Waiter] = []
        for id in subscribers.keys {
            subscribers[id]?.pending = true
            if let waiter = subscribers[id]?.waiter {
                woken.append(waiter)
                subscribers[id]?.waiter = nil
            }
        }
        return woken
    }

    enum TakeAction: Equatable {
        /// A change was pending and is now taken: go on.
        case proceed
        /// Nothing pending: the waiter was stored; it is resumed by ``changed()`` or ``cancel(_:)``.
        case suspend
    }

    /// The subscriber `id` looks for a change: takes the pending one, or waits with `waiter`.
    mutating func take(_ id: UInt64, waiter: Waiter) -> TakeAction {
        guard var subscriber = subscribers[id] else { return .proceed }
        if subscriber.pending {
            subscriber.pending = false
            subscribers[id] = subscriber
            return .proceed
        }
        precondition(subscriber.waiter == nil, "a ChangeNotifier subscription has one waiter at a time")
        subscriber.waiter = waiter
        subscribers[id] = subscriber
        return .suspend
    }

    /// The subscriber `id` pending change, if any, is consumed (after its waiter was resumed).
    mutating func consume(_ id: UInt64) {
        subscribers[id]?.pending = false
    }

    /// The waiting task of `id` was cancelled: returns its waiter to resume.
    mutating func cancel(_ id: UInt64) -> Waiter? {
        guard let waiter = subscribers[id]?.waiter else { return nil }
        subscribers[id]?.waiter = nil
        return waiter
    }

    /// Checks the invariants; for tests.
    func checkInvariants() {
        for subscriber in subscribers.values {
            precondition(!(subscriber.pending && subscriber.waiter != nil), "a subscriber with a pending change does not wait")
        }
    }
}
