#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import CVerbs

/// A completion event channel (`ibv_create_comp_channel` / `ibv_destroy_comp_channel`): a file
/// descriptor that becomes readable when a completion queue armed with `requestNotify()` gets a
/// completion, so a poller can sleep in epoll (or NIO) instead of spinning.
///
/// Holds its `Context`; completion queues using it hold the channel, so it is destroyed after them.
/// `@unchecked Sendable`: immutable, and libibverbs calls are thread-safe.
public final class CompletionChannel: @unchecked Sendable {
    let raw: UnsafeMutablePointer<ibv_comp_channel>
    public let context: Context

    public init(context: Context) throws(VerbsError) {
        raw = try checkNonNull(ibv_create_comp_channel(context.raw), VerbsError.createCompChannel)
        self.context = context
    }

    deinit {
        ibv_destroy_comp_channel(raw)
    }

    /// The channel's fd: readable when an event is waiting.
    public var fileDescriptor: Int32 { raw.pointee.fd }

    /// Makes `nextEvent()` return nil instead of blocking when no event is waiting, for integration
    /// with an event loop that watches `fileDescriptor`.
    public func setNonBlocking(_ nonBlocking: Bool = true) {
        setNonBlockingFlag(fileDescriptor, nonBlocking)
    }

    /// Waits for the next completion event (`ibv_get_cq_event`) and acknowledges it at once
    /// (`ibv_ack_cq_events`), returning which completion queue it was for; nil when the fd is
    /// non-blocking and nothing is waiting. The queue is disarmed by the event: call its
    /// `requestNotify()` again, then poll it until empty. A signal interrupting the wait is retried.
    public func nextEvent() throws(VerbsError) -> CompletionQueue.Handle? {
        var cq: UnsafeMutablePointer<ibv_cq>?
        var cqContext: UnsafeMutableRawPointer?
        do {
            try checkNonNegative(VerbsError.getCQEvent, retryingInterrupts: true) {
                ibv_get_cq_event(raw, &cq, &cqContext)
            }
        } catch .getCQEvent(let code) where code == EAGAIN || code == EWOULDBLOCK {
            return nil
        }
        guard let cq else { return nil }
        ibv_ack_cq_events(cq, 1)
        return CompletionQueue.Handle(cq)
    }
}

/// Sets or clears `O_NONBLOCK` on `fd`. A failure here means the fd is not ours (a bug), so it traps.
func setNonBlockingFlag(_ fd: Int32, _ nonBlocking: Bool) {
    let flags = fcntl(fd, F_GETFL)
    precondition(flags >= 0, "fcntl(F_GETFL) on fd \(fd) failed: errno \(errno)")
    let updated = nonBlocking ? flags | O_NONBLOCK : flags & ~O_NONBLOCK
    precondition(fcntl(fd, F_SETFL, updated) == 0, "fcntl(F_SETFL) on fd \(fd) failed: errno \(errno)")
}
