import Foundation
import TributaryCore

/// The one contract every transport fulfils (TCP, RDMA, in-process), so the roles never know which
/// one carries their frames (DESIGN.md §2.5). A connection delivers whole, validated frames in order.
public protocol FrameConnection: AnyObject, Sendable {
    /// Who is at the other end, for error messages (`127.0.0.1:40112`, `inproc:leaf0#3`).
    var peer: String { get }
    /// Frames from the peer in order; single consumer. Finishes when the peer closes and throws a
    /// `TransportError` when the connection fails or the peer sent bytes that do not decode.
    var inbound: AsyncThrowingStream<Frame, Error> { get }
    /// Queues `frame` behind earlier ones and returns at once. A frame sent on a dead connection is
    /// dropped; the failure surfaces on `inbound`. Flow control is the protocol's (credits), not this.
    func send(_ frame: Frame)
    /// Sends a chunk whose payload is in the caller's memory, copying it once into the transport's
    /// own buffer (no intermediate array). The memory may be reused when this returns — unless it
    /// lies in a buffer registered with `register`: then the transport may send straight from it
    /// until `waitForSends` returns.
    func sendChunk(_ header: ChunkHeader, payload: UnsafeRawBufferPointer)
    /// Memory the caller keeps allocated, and does not unmap, until `deregister` (NCCL's
    /// `ncclCommRegister`): a transport that sends from registered memory (RDMA) registers it once
    /// and sends chunks inside it without copying them. Registering a buffer again, or a part of
    /// one, reuses the registration. False: this transport copies anyway (nothing to undo).
    func register(_ buffer: UnsafeRawBufferPointer) throws -> Bool
    /// Ends one `register` of `buffer`; the last one releases the registration.
    func deregister(_ buffer: UnsafeRawBufferPointer)
    /// Returns once every send so far no longer reads the caller's memory (registered buffers).
    func waitForSends() async throws
    /// Sends a frame that goes to several connections (a result fanned out to every child): the
    /// transport encodes it once and reuses the bytes for each connection.
    func send(_ frame: SharedFrame)
    /// Asks the transport to write chunk payloads straight into memory the receiver names (nil:
    /// back to arrays). Transports that cannot simply ignore it; see `FrameParser.Placement` for
    /// how a placed chunk is delivered.
    func setPlacement(_ placement: (@Sendable (ChunkHeader) -> UnsafeMutableRawPointer?)?)
    /// Sends the frame and waits until the transport has handed it to the peer or the OS.
    func sendAndWait(_ frame: Frame) async throws
    /// Closes both directions; `inbound` finishes.
    func close()
    /// Run-to-completion delivery: from some point soon after this call the transport hands every
    /// frame to `handler` on its own thread, in order, instead of yielding it to `inbound` — which
    /// then finishes once the frames already in it are read — and then `.ended` once, when the
    /// connection ends. False: this transport only has `inbound`. Use `serveFrames`, which
    /// keeps the two in order; a handler must not block (it runs where the transport reads).
    func deliverInline(_ handler: @escaping @Sendable (InlineDelivery) -> Void) -> Bool
    /// The peer has proved who it is (`Handshake`): lift the small limits every connection starts
    /// with (`WireFormat.preAuthenticationMaxBody`) to the transport's full frame size. Until then a
    /// stranger can make this process hold no more than that.
    func authenticated()
}

/// A frame sent to several connections, with room for the transport to keep its encoding.
public final class SharedFrame: @unchecked Sendable {
    public let frame: Frame
    private let lock = NSLock()
    private var encoded: Any?

    public init(_ frame: Frame) { self.frame = frame }

    /// The transport's encoding of `frame`, made on first use and shared afterwards.
    public func encoding<T>(_ make: () -> T) -> T {
        lock.withLock {
            if let cached = encoded as? T { return cached }
            let value = make()
            encoded = value
            return value
        }
    }
}

extension FrameConnection {
    public func send(_ frame: SharedFrame) { send(frame.frame) }

    public func register(_ buffer: UnsafeRawBufferPointer) throws -> Bool { false }
    public func deregister(_ buffer: UnsafeRawBufferPointer) {}
    public func waitForSends() async throws {}

    public func setPlacement(_ placement: (@Sendable (ChunkHeader) -> UnsafeMutableRawPointer?)?) {}

    public func deliverInline(_ handler: @escaping @Sendable (InlineDelivery) -> Void) -> Bool { false }

    /// Transports whose buffers are bounded anyway (in-process, RDMA's fixed receive ring) need nothing.
    public func authenticated() {}

    public func sendChunk(_ header: ChunkHeader, payload: UnsafeRawBufferPointer) {
        send(.chunk(header, payload: Array(payload)))
    }
}

/// The current placement function of one connection (`setPlacement`), swapped under a lock: the
/// caller sets it from its task, the transport reads it on its own thread for every chunk header.
public final class PlacementBox: @unchecked Sendable {
    private let lock = NSLock()
    private var value: (@Sendable (ChunkHeader) -> UnsafeMutableRawPointer?)?

    public init() {}

    public var current: (@Sendable (ChunkHeader) -> UnsafeMutableRawPointer?)? {
        get { lock.withLock { value } }
        set { lock.withLock { value = newValue } }
    }
}

/// Accepts connections on an endpoint.
public protocol FrameListener: AnyObject, Sendable {
    /// Where peers reach this listener (with the real port when asked for port 0).
    var endpoint: Endpoint { get }
    /// Accepted connections, in order; finishes when the listener closes.
    var connections: AsyncStream<any FrameConnection> { get }
    func close() async
}

/// A way to move frames between roles.
public protocol FrameTransport: Sendable {
    /// `tcp`, `rdma`, `inproc`: reported with every operation.
    var name: String { get }
    func listen(on endpoint: Endpoint) async throws -> any FrameListener
    func connect(to endpoint: Endpoint) async throws -> any FrameConnection
    /// Where a task that sends and awaits frames on this transport's connections should run to
    /// avoid a thread hop each way (the thread that does the I/O); nil: anywhere.
    var taskExecutor: (any TaskExecutor)? { get }
}

extension FrameTransport {
    public var taskExecutor: (any TaskExecutor)? { nil }
}

/// Transport failures, each naming the peer or endpoint concerned.
public enum TransportError: Error, Sendable, CustomStringConvertible {
    case listenFailed(endpoint: Endpoint, reason: String)
    case connectFailed(endpoint: Endpoint, reason: String)
    /// The peer sent bytes that do not decode; the connection was closed.
    case malformedFrame(peer: String, WireError)
    case connectionLost(peer: String, reason: String)
    case closed(peer: String)

    public var description: String {
        switch self {
        case .listenFailed(let e, let r): return "cannot listen on \(e): \(r)"
        case .connectFailed(let e, let r): return "cannot connect to \(e): \(r)"
        case .malformedFrame(let p, let w): return "malformed frame from \(p): \(w)"
        case .connectionLost(let p, let r): return "connection to \(p) lost: \(r)"
        case .closed(let p): return "connection to \(p) is closed"
        }
    }
}

/// Hands a connection's iterator to the one task that consumes it from then on (after a handshake
/// read the first frames from it).
public final class IteratorBox: @unchecked Sendable {
    public var iterator: AsyncThrowingStream<Frame, Error>.AsyncIterator
    public init(_ iterator: AsyncThrowingStream<Frame, Error>.AsyncIterator) { self.iterator = iterator }
}
