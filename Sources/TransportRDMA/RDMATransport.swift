import Foundation
import Transport
import TributaryCore
import Verbs

/// Frames over RDMA verbs: RC queue pairs set up through rdma_cm, the TCP byte-stream framing
/// carried in SEND pieces into pre-posted registered receive buffers, credit-based flow control, and
/// completions handled on dedicated threads (never the Swift concurrency pool). See
/// `RDMAConnection` for the data path and docs/RDMA.md for the plan.
///
/// Endpoints are IPv4 `host:port` in rdma_cm's TCP port space. On RoCE the address also picks the
/// device: listen on (and connect to) an address a RoCE netdev carries; soft-RoCE does not serve
/// 127.0.0.1.
public struct RDMATransport: FrameTransport {
    public struct Configuration: Sendable {
        /// Receive buffers posted per connection: the peer's initial credits (at least 4).
        public var receiveBufferCount: Int
        /// Bytes per receive buffer: the largest SEND piece the peer may send us (4 of them are the
        /// credit prefix).
        public var receiveBufferSize: Int
        /// Send buffers per connection (registered; frames are encoded straight into them).
        public var sendBufferCount: Int
        /// Bytes per send buffer (pieces are at most min(this, the peer's receive buffer size)).
        public var sendBufferSize: Int
        /// Address and route resolution and connection establishment, together.
        public var connectTimeout: Duration
        /// How long `close()` waits for queued sends before disconnecting anyway, and how long a
        /// disconnected connection waits for its receives to flush.
        public var closeTimeout: Duration
        public var maxBody: Int
        /// Receiver-not-ready retries before a SEND fails (7 would be forever). Credits keep the
        /// peer's receive queue from running dry, so RNR is only a backstop; a finite count makes
        /// a peer whose queue pair died (receives flushed, no disconnect) fail our sends instead
        /// of retrying forever.
        public var rnrRetryCount: UInt8
        /// Transport retries (lost ACKs) before a SEND fails with "retry counter exceeded".
        public var retryCount: UInt8
        /// An idle connection sends an empty piece this often, so a peer that vanished (no
        /// DISCONNECTED, e.g. its host died) is noticed by `peerTimeout` even when nothing is sent.
        public var keepaliveInterval: Duration
        /// Posted SENDs with no completion for this long: the peer is declared lost (soft-RoCE does
        /// not always fail them by itself).
        public var peerTimeout: Duration
        /// How this side puts pieces into the peer's receive buffers (the peer handles both).
        public var operation: Operation
        /// Registered payloads at least this large go without a copy (smaller ones are cheaper to
        /// copy than a second scatter/gather element and a piece of their own).
        public var zeroCopyThreshold: Int

        public init(receiveBufferCount: Int = 32, receiveBufferSize: Int = 256 << 10 + 4096,
                    sendBufferCount: Int = 32, sendBufferSize: Int? = nil,
                    connectTimeout: Duration = .seconds(10), closeTimeout: Duration = .seconds(2),
                    maxBody: Int = WireFormat.defaultMaxBody, rnrRetryCount: UInt8 = 6, retryCount: UInt8 = 7,
                    keepaliveInterval: Duration = .seconds(5), peerTimeout: Duration = .seconds(15),
                    operation: Operation = .writeWithImmediate, zeroCopyThreshold: Int = 16 << 10) {
            precondition(receiveBufferCount >= 4, "credits need at least 4 receive buffers")
            precondition(sendBufferCount >= 2, "at least 2 send buffers")
            precondition(receiveBufferSize > 64, "receive buffers of more than 64 bytes")
            self.receiveBufferCount = receiveBufferCount
            self.receiveBufferSize = receiveBufferSize
            self.sendBufferCount = sendBufferCount
            self.sendBufferSize = sendBufferSize ?? receiveBufferSize
            self.connectTimeout = connectTimeout
            self.closeTimeout = closeTimeout
            self.maxBody = maxBody
            self.rnrRetryCount = min(rnrRetryCount, 7)
            self.retryCount = min(retryCount, 7)
            self.keepaliveInterval = keepaliveInterval
            self.peerTimeout = peerTimeout
            self.operation = operation
            self.zeroCopyThreshold = zeroCopyThreshold
        }

        var connectionParameters: ConnectionParameters {
            ConnectionParameters(retryCount: retryCount, rnrRetryCount: rnrRetryCount)
        }
    }

    /// How a piece reaches the peer's registered receive buffer. Soft-RoCE moves WRITEs faster than
    /// SENDs (docs/PERFORMANCE.md: `ib_write_bw` against `ib_send_bw`, and this transport in both).
    public enum Operation: String, Sendable, CaseIterable {
        /// SEND into the peer's next posted receive.
        case send
        /// RDMA WRITE with immediate into the ring buffer the sender picks (the immediate names it).
        case writeWithImmediate = "write-imm"
    }

    public let name = "rdma"
    /// Names this process in error frames it sends to a peer it drops.
    public let localName: String
    public let configuration: Configuration

    public init(localName: String, configuration: Configuration = Configuration()) {
        self.localName = localName
        self.configuration = configuration
    }

    public func listen(on endpoint: Endpoint) async throws -> any FrameListener {
        guard let port = UInt16(exactly: endpoint.port), let address = CMAddress(host: endpoint.host, port: port),
              address.isIPv4 else {
            throw TransportError.listenFailed(endpoint: endpoint, reason: "not a numeric IPv4 address and port")
        }
        do {
            let loop = try CMEventLoop(name: "rdma-cm listen \(endpoint)")
            let id = try CMID(channel: loop.channel)
            try id.bind(address)
            try id.listen(backlog: 256)
            let bound = Endpoint(host: endpoint.host, port: Int(id.localAddress?.port ?? port))
            let core = ListenerCore(loop: loop, localName: localName, configuration: configuration)
            loop.register(id.identifier) { event in core.handleListening(event) }
            loop.start()
            return RDMAListener(endpoint: bound, id: id, core: core)
        } catch {
            throw TransportError.listenFailed(endpoint: endpoint, reason: "\(error)")
        }
    }

    public func connect(to endpoint: Endpoint) async throws -> any FrameConnection {
        guard let port = UInt16(exactly: endpoint.port), let address = CMAddress(host: endpoint.host, port: port),
              address.isIPv4 else {
            throw TransportError.connectFailed(endpoint: endpoint, reason: "not a numeric IPv4 address and port")
        }
        let attempt: ConnectAttempt
        do {
            let loop = try CMEventLoop(name: "rdma-cm \(endpoint)")
            let id = try CMID(channel: loop.channel)
            attempt = ConnectAttempt(endpoint: endpoint, address: address, id: id, loop: loop,
                                     localName: localName, configuration: configuration)
        } catch {
            throw TransportError.connectFailed(endpoint: endpoint, reason: "\(error)")
        }
        let timeout = configuration.connectTimeout
        let timer = Task {
            try await Task.sleep(for: timeout)
            attempt.fail("no connection within \(timeout)")
        }
        defer { timer.cancel() }
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { continuation in
                attempt.start(continuation)
            }
        } onCancel: {
            attempt.fail("cancelled")
        }
    }
}

/// Drives one active connection through rdma_cm on its own CM thread: resolve address, resolve
/// route, create the QP and post receives, connect, ESTABLISHED.
final class ConnectAttempt: @unchecked Sendable {
    private let endpoint: Endpoint
    private let address: CMAddress
    private let id: CMID
    private let loop: CMEventLoop
    private let localName: String
    private let configuration: RDMATransport.Configuration
    private let lock = NSLock()
    private var continuation: CheckedContinuation<any FrameConnection, Error>?
    private var done = false
    private var connection: RDMAConnection?

    init(endpoint: Endpoint, address: CMAddress, id: CMID, loop: CMEventLoop, localName: String,
         configuration: RDMATransport.Configuration) {
        self.endpoint = endpoint
        self.address = address
        self.id = id
        self.loop = loop
        self.localName = localName
        self.configuration = configuration
    }

    func start(_ continuation: CheckedContinuation<any FrameConnection, Error>) {
        let already = lock.withLock { () -> Bool in
            if done { return true }
            self.continuation = continuation
            return false
        }
        if already {
            continuation.resume(throwing: TransportError.connectFailed(endpoint: endpoint, reason: "cancelled"))
            return
        }
        loop.register(id.identifier) { [self] event in handle(event) }
        loop.stopWhenIdle()
        loop.start()
        do {
            let ms = Int32(clamping: configuration.connectTimeout.components.seconds * 1000 / 2)
            try id.resolveAddress(to: address, timeoutMilliseconds: ms)
        } catch {
            fail("\(error)")
        }
    }

    private func handle(_ event: CMEvent) {
        switch event {
        case .addressResolved:
            do {
                try id.resolveRoute(timeoutMilliseconds: Int32(clamping: configuration.connectTimeout.components.seconds * 500))
            } catch {
                fail("\(error)")
            }
        case .routeResolved:
            do {
                let connection = try RDMAConnection(id: id, cmLoop: loop, peer: endpoint.description,
                                                    localName: localName, configuration: configuration)
                let proceed = lock.withLock { () -> Bool in
                    guard !done else { return false }
                    self.connection = connection
                    return true
                }
                guard proceed else { return }
                var parameters = configuration.connectionParameters
                parameters.privateData = connection.handshake.encoded
                try id.connect(parameters)
            } catch {
                fail("\(error)")
            }
        case .established(let privateData):
            guard let remote = Handshake(privateData) else {
                fail("the peer is not a tributary RDMA endpoint (no handshake in its accept)")
                return
            }
            let (continuation, connection) = lock.withLock { () -> (CheckedContinuation<any FrameConnection, Error>?, RDMAConnection?) in
                guard !done, let connection = self.connection else { return (nil, nil) }
                done = true
                let c = self.continuation
                self.continuation = nil
                return (c, connection)
            }
            guard let continuation, let connection else { return }
            // From now on the connection handles this id's events (DISCONNECTED).
            loop.register(id.identifier) { event in connection.handle(event) }
            connection.establish(peer: remote)
            continuation.resume(returning: connection)
        case .addressError, .routeError, .connectError, .unreachable, .rejected:
            let detail = event.status < 0 ? ": \(String(cString: strerror(-event.status)))"
                : event.status > 0 ? " (status \(event.status)\(event.kind == .rejected ? ", no listener?" : ""))" : ""
            fail("rdma_cm \(event)\(detail)")
        default:
            break
        }
    }

    /// Ends the attempt with `reason` (once; later calls do nothing).
    func fail(_ reason: String) {
        let (first, continuation, connection) = lock.withLock {
            () -> (Bool, CheckedContinuation<any FrameConnection, Error>?, RDMAConnection?) in
            guard !done else { return (false, nil, nil) }
            done = true
            let c = self.continuation
            self.continuation = nil
            let made = self.connection
            self.connection = nil
            return (true, c, made)
        }
        guard first else { return }
        withExtendedLifetime(connection) {}
        loop.unregister(id.identifier)
        continuation?.resume(throwing: TransportError.connectFailed(endpoint: endpoint, reason: reason))
    }
}

/// The listener's state shared with its CM thread.
final class ListenerCore: @unchecked Sendable {
    let loop: CMEventLoop
    let connections: AsyncStream<any FrameConnection>
    private let continuation: AsyncStream<any FrameConnection>.Continuation
    private let localName: String
    private let configuration: RDMATransport.Configuration

    init(loop: CMEventLoop, localName: String, configuration: RDMATransport.Configuration) {
        self.loop = loop
        self.localName = localName
        self.configuration = configuration
        (connections, continuation) = AsyncStream<any FrameConnection>.makeStream()
    }

    func handleListening(_ event: CMEvent) {
        guard case .connectRequest(let id, let privateData) = event else { return }
        // Dropping `id` without accepting rejects the request.
        guard let remote = Handshake(privateData) else { return }
        let peer = id.peerAddress?.description ?? "unknown peer"
        do {
            let connection = try RDMAConnection(id: id, cmLoop: loop, peer: peer, localName: localName,
                                                configuration: configuration)
            let continuation = self.continuation
            loop.register(id.identifier) { [loop] event in
                switch event {
                case .established:
                    connection.establish(peer: remote)
                    continuation.yield(connection)
                case .connectError, .unreachable, .rejected:
                    loop.unregister(id.identifier)
                default:
                    connection.handle(event)
                }
            }
            do {
                var parameters = configuration.connectionParameters
                parameters.privateData = connection.handshake.encoded
                try id.accept(parameters)
            } catch {
                loop.unregister(id.identifier)
            }
        } catch {
            // Resources could not be made (memory, device): the request is rejected when `id` goes.
        }
    }

    func finish() { continuation.finish() }
}

final class RDMAListener: FrameListener, @unchecked Sendable {
    let endpoint: Endpoint
    private let core: ListenerCore
    private let lock = NSLock()
    private var id: CMID?

    init(endpoint: Endpoint, id: CMID, core: ListenerCore) {
        self.endpoint = endpoint
        self.id = id
        self.core = core
    }

    var connections: AsyncStream<any FrameConnection> { core.connections }

    func close() async {
        let id = lock.withLock { () -> CMID? in
            defer { self.id = nil }
            return self.id
        }
        if let id { core.loop.unregister(id.identifier) }
        // The listening id is destroyed here; accepted connections keep the loop until they end.
        _ = id
        core.loop.stopWhenIdle()
        core.finish()
    }
}
