#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import CVerbs

/// An rdma_cm identifier (`rdma_create_id` / `rdma_destroy_id`): the RDMA analogue of a socket. An
/// active side resolves an IP address and route to a device and port, then connects; a passive side
/// binds and listens, and each `CMEvent.connectRequest` brings a new id to accept. rdma_cm moves the
/// id's queue pair through INIT, RTR and RTS on connect and accept.
///
/// Holds its `EventChannel`, where its events arrive; a queue pair created on it holds the id, so the
/// QP is destroyed first (`rdma_destroy_qp`, then `rdma_destroy_id`). The ids' events are acknowledged
/// as soon as `EventChannel` reads them, so destroying an id never waits on an unacknowledged event.
/// `@unchecked Sendable`: immutable here, and librdmacm calls are thread-safe.
public final class CMID: @unchecked Sendable {
    /// Names an id in `EventChannel.nextEvent()`'s result.
    public struct Identifier: Hashable, Sendable {
        let bits: UInt
        init(_ raw: UnsafeMutablePointer<rdma_cm_id>) { bits = UInt(bitPattern: raw) }
    }

    let raw: UnsafeMutablePointer<rdma_cm_id>
    public let channel: EventChannel

    /// A new id for reliable-connected (TCP-like) communication, reporting to `channel`.
    public init(channel: EventChannel) throws(VerbsError) {
        var id: UnsafeMutablePointer<rdma_cm_id>?
        try checkNonNegative(VerbsError.createID) { rdma_create_id(channel.raw, &id, nil, RDMA_PS_TCP) }
        raw = try checkNonNull(id, VerbsError.createID)
        self.channel = channel
    }

    /// Takes ownership of an id rdma_cm made for an incoming connection request.
    init(adopting raw: UnsafeMutablePointer<rdma_cm_id>, channel: EventChannel) {
        self.raw = raw
        self.channel = channel
    }

    deinit {
        rdma_destroy_id(raw)
    }

    public var identifier: Identifier { Identifier(raw) }

    /// The device context the id is bound to, once it is (after `resolveAddress` on the active side,
    /// on ids from a connect request, or after binding to a device's own address). Protection domains
    /// and completion queues for `createQP` must come from it. It keeps this id alive.
    public var context: Context? {
        raw.pointee.verbs.map { Context(borrowing: $0, keeping: self) }
    }

    /// The device port the id is bound to (valid with `context`).
    public var portNumber: UInt8 { raw.pointee.port_num }

    public var localAddress: CMAddress? { CMAddress(rdma_get_local_addr(raw)) }
    public var peerAddress: CMAddress? { CMAddress(rdma_get_peer_addr(raw)) }

    /// Binds to a local address (`rdma_bind_addr`); port 0 picks one (read it from `localAddress`).
    /// Binding to a device's own IP address binds the id to that device.
    public func bind(_ address: CMAddress) throws(VerbsError) {
        try checkNonNegative({ .bind(address: address.description, errno: $0) }) {
            address.withSockaddr { rdma_bind_addr(raw, $0) }
        }
    }

    /// Starts listening for connection requests (`rdma_listen`); each arrives as
    /// `CMEvent.connectRequest` on the channel.
    public func listen(backlog: Int32 = 64) throws(VerbsError) {
        try checkNonNegative(VerbsError.listen) { rdma_listen(raw, backlog) }
    }

    /// Resolves `destination` to a device and port (`rdma_resolve_addr`); completes with
    /// `CMEvent.addressResolved` (or `.addressError`). With `source`, binds to it first.
    public func resolveAddress(to destination: CMAddress, from source: CMAddress? = nil,
                               timeoutMilliseconds: Int32 = 2000) throws(VerbsError) {
        try checkNonNegative({ .resolveAddr(destination: destination.description, errno: $0) }) {
            destination.withSockaddr { destinationPointer in
                if let source {
                    return source.withSockaddr { rdma_resolve_addr(raw, $0, destinationPointer, timeoutMilliseconds) }
                }
                return rdma_resolve_addr(raw, nil, destinationPointer, timeoutMilliseconds)
            }
        }
    }

    /// Resolves the route to the resolved address (`rdma_resolve_route`); completes with
    /// `CMEvent.routeResolved` (or `.routeError`).
    public func resolveRoute(timeoutMilliseconds: Int32 = 2000) throws(VerbsError) {
        try checkNonNegative(VerbsError.resolveRoute) { rdma_resolve_route(raw, timeoutMilliseconds) }
    }

    /// An RC queue pair on this id (`rdma_create_qp`), completing sends and receives on `cq` (receives
    /// on `receiveCQ` if given). `protectionDomain` and the queues must come from `context`.
    public func createQP(pd protectionDomain: ProtectionDomain, cq: CompletionQueue, receiveCQ: CompletionQueue? = nil,
                         capabilities: QueuePair.Capabilities = QueuePair.Capabilities(), signalAll: Bool = false)
        throws(VerbsError) -> QueuePair {
        try QueuePair(cmID: self, protectionDomain: protectionDomain, sendQueue: cq, receiveQueue: receiveCQ ?? cq,
                      capabilities: capabilities, signalAll: signalAll)
    }

    /// Asks the peer to connect (`rdma_connect`), after the route is resolved and the QP created;
    /// completes with `CMEvent.established` (or `.rejected`, `.unreachable`, `.connectError`).
    /// Post receives before this: the peer may send as soon as it is established.
    public func connect(_ parameters: ConnectionParameters = ConnectionParameters()) throws(VerbsError) {
        try checkNonNegative(VerbsError.connect) { parameters.withRaw { rdma_connect(raw, &$0) } }
    }

    /// Accepts the connection request this id came with (`rdma_accept`); `CMEvent.established`
    /// follows. Post receives before this.
    public func accept(_ parameters: ConnectionParameters = ConnectionParameters()) throws(VerbsError) {
        try checkNonNegative(VerbsError.accept) { parameters.withRaw { rdma_accept(raw, &$0) } }
    }

    /// Tears the connection down (`rdma_disconnect`): the QP goes to ERR (flushing outstanding work
    /// requests) and the peer gets `CMEvent.disconnected`. The peer should then call `disconnect()`
    /// too: its reply is what brings `CMEvent.disconnected` to the side that started (otherwise that
    /// waits for the CM's timeout).
    public func disconnect() throws(VerbsError) {
        try checkNonNegative(VerbsError.disconnect) { rdma_disconnect(raw) }
    }
}
