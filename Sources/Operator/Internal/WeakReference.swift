import Synchronization

/// A weak reference that closures can capture before the object exists: the
/// operator's sync queue and status feed call back into the operator, which is
/// made after them.
final class WeakReference<Object: AnyObject & Sendable>: Sendable {
    private struct Box: Sendable {
        weak var object: Object?
    }

    private let box = Mutex(Box())

    /// An empty reference.
    init() {}

    /// The object, while it lives.
    var value: Object? {
        get { box.withLock { $0.object } }
        set { box.withLock { $0.object = newValue } }
    }
}
