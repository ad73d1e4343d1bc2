/// Something that happens once (a stop, a client gone): once opened, every current and future
/// `wait` returns at once.
public final class Latch: Sendable {
    private let state = WaitableState<Bool, Void, Void>(false)

    public init() {}

    public var isOpen: Bool { state.withLock { $0 } }

    public func open() {
        state.update { open, waiters in
            open = true
            waiters.resumeAll(with: ())
        }
    }

    /// Returns once open, or when the calling task is cancelled.
    public func wait() async {
        await state.wait(cancelled: ()) { open in open ? () : nil }
    }
}
