#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import CVerbs

/// An rdma_cm event channel (`rdma_create_event_channel` / `rdma_destroy_event_channel`): where the
/// events of the `CMID`s created on it arrive, through one file descriptor that an event loop can
/// watch once `setNonBlocking()` is on.
///
/// Each event is copied into a `CMEvent` and acknowledged (`rdma_ack_cm_event`) before it is returned,
/// so no caller ever holds an unacknowledged event (which would make `rdma_destroy_id` wait forever).
/// Ids hold their channel, so it is destroyed after them. `@unchecked Sendable`: immutable, and
/// librdmacm calls are thread-safe; two tasks reading events from one channel would split them.
public final class EventChannel: @unchecked Sendable {
    let raw: UnsafeMutablePointer<rdma_event_channel>

    public init() throws(VerbsError) {
        raw = try checkNonNull(rdma_create_event_channel(), VerbsError.createEventChannel)
    }

    deinit {
        rdma_destroy_event_channel(raw)
    }

    /// The channel's fd: readable when an event is waiting.
    public var fileDescriptor: Int32 { raw.pointee.fd }

    /// Makes `pollEvent()` return nil instead of blocking when no event is waiting.
    public func setNonBlocking(_ nonBlocking: Bool = true) {
        setNonBlockingFlag(fileDescriptor, nonBlocking)
    }

    /// Waits for the next event (`rdma_get_cm_event`, retried on EINTR) on any id of this channel and
    /// returns it with the id it concerns (for a connect request: the listening id; the new id is in
    /// the event).
    public func nextEvent() throws(VerbsError) -> (event: CMEvent, id: CMID.Identifier) {
        try read(expected: "any")
    }

    /// `nextEvent()`, but nil when the fd is non-blocking and no event is waiting.
    public func pollEvent() throws(VerbsError) -> (event: CMEvent, id: CMID.Identifier)? {
        do {
            return try read(expected: "any")
        } catch .getCMEvent(_, let code) where code == EAGAIN || code == EWOULDBLOCK {
            return nil
        }
    }

    /// Waits for the next event and returns it if it is `kind` (and concerns `id`, when given);
    /// anything else throws `VerbsError.unexpectedCMEvent` naming what came instead, with its status.
    @discardableResult
    public func expect(_ kind: CMEvent.Kind, on id: CMID? = nil) throws(VerbsError) -> CMEvent {
        let (event, source) = try read(expected: kind.description)
        guard event.kind == kind, id.map({ $0.identifier == source }) ?? true else {
            let got = event.kind == kind ? "\(event) on another id" : event.description
            throw .unexpectedCMEvent(expected: kind.description, got: got, status: event.status)
        }
        return event
    }

    private func read(expected: String) throws(VerbsError) -> (event: CMEvent, id: CMID.Identifier) {
        var received: UnsafeMutablePointer<rdma_cm_event>?
        try checkNonNegative({ .getCMEvent(expected: expected, errno: $0) }, retryingInterrupts: true) {
            rdma_get_cm_event(raw, &received)
        }
        guard let received else { throw .getCMEvent(expected: expected, errno: EIO) }
        // Copy everything out, acknowledge, and only then wrap a connect request's new id: an id
        // destroyed with its event unacknowledged would block in rdma_destroy_id.
        let copy = received.pointee
        let source = CMID.Identifier(copy.listen_id ?? copy.id)
        let privateData = CMEvent.privateData(of: copy)
        try checkNonNegative(VerbsError.ackCMEvent) { rdma_ack_cm_event(received) }
        let event = CMEvent(copy, privateData: privateData) { CMID(adopting: $0, channel: self) }
        return (event, source)
    }
}
