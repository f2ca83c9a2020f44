import Synchronization

/// Tells subscribers that something changed since they last looked, without
/// saying what: they look themselves. Changes coalesce (a subscriber that was
/// told once is not told again until it took the change), nothing runs while
/// nothing changes, and a change is never missed: a subscriber that looks
/// after ``subscribe()`` or after its last wake-up sees every change made
/// since then.
///
/// ``notify()`` is cheap when every subscriber already has a change to take
/// (one atomic load): callers may call it on every update of what is watched,
/// as long as they call it *after* the update, outside any lock the
/// subscribers take to read it.
package final class ChangeNotifier: Sendable {
    private let state = Mutex(ChangeNotifierStateMachine<CheckedContinuation<Void, Never>>())
    /// True while every subscriber has a pending change (or there is none):
    /// `notify()` then has nothing to do. Written under the lock only.
    private let everyoneTold = Atomic<Bool>(true)

    /// A notifier without subscribers.
    package init() {}

    /// Records a change: every subscriber has one to take, waiting ones are woken.
    package func notify() {
        if everyoneTold.load(ordering: .acquiring) { return }
        let waiters = state.withLock { machine in
            defer { everyoneTold.store(true, ordering: .releasing) }
            return machine.changed()
        }
        for waiter in waiters { waiter.resume() }
    }

    /// A new subscription, whose first ``Subscription/next()`` returns at once.
    package func subscribe() -> Subscription {
        let id = state.withLock { $0.subscribe() }
        return Subscription(notifier: self, id: id)
    }

    /// One subscriber's view: waits for changes; ends it with ``cancel()``.
    package struct Subscription: Sendable {
        let notifier: ChangeNotifier
        let id: UInt64

        /// Returns once a change was recorded since the previous return (at once
        /// if one already was), or when the task is cancelled.
        package func next() async {
            await notifier.next(id)
        }

        /// Ends the subscription.
        package func cancel() {
            notifier.unsubscribe(id)
        }
    }

    private func next(_ id: UInt64) async {
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let action = state.withLock { machine -> ChangeNotifierStateMachine<CheckedContinuation<Void, Never>>.TakeAction in
                    if Task.isCancelled { return .proceed }
                    let action = machine.take(id, waiter: continuation)
                    // This subscriber has nothing pending now: the next change must take the lock.
                    everyoneTold.store(machine.everyoneTold, ordering: .releasing)
                    return action
                }
                if action == .proceed { continuation.resume() }
            }
        } onCancel: {
            state.withLock { $0.cancel(id) }?.resume()
        }
        state.withLock { machine in
            machine.consume(id)
            everyoneTold.store(machine.everyoneTold, ordering: .releasing)
        }
    }

    private func unsubscribe(_ id: UInt64) {
        let waiter = state.withLock { machine in
            defer { everyoneTold.store(machine.everyoneTold, ordering: .releasing) }
            return machine.unsubscribe(id)
        }
        waiter?.resume()
    }
}
