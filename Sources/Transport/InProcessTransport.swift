import Foundation
import TributaryCore

/// Frames between tasks of one process: the transport contract without sockets, so algorithm
/// tests run in milliseconds. With `viaWireFormat`, every frame is encoded and decoded on the way,
/// so the codec is exercised exactly as on a socket.
public final class InProcessTransport: FrameTransport, @unchecked Sendable {
    public let name = "inproc"
    public let viaWireFormat: Bool
    private let lock = NSLock()
    private var listeners: [Endpoint: InProcessListener] = [:]
    private var nextPort = 1
    private var nextConnection = 1

    public init(viaWireFormat: Bool = true) { self.viaWireFormat = viaWireFormat }

    public func listen(on endpoint: Endpoint) async throws -> any FrameListener {
        try lock.withLock {
            var ep = endpoint
            if ep.port == 0 {
                ep.port = nextPort
                nextPort += 1
            }
            guard listeners[ep] == nil else {
                throw TransportError.listenFailed(endpoint: ep, reason: "address in use")
            }
            let bound = ep
            let listener = InProcessListener(endpoint: bound) { [weak self] in self?.remove(bound) }
            listeners[ep] = listener
            return listener
        }
    }

    public func connect(to endpoint: Endpoint) async throws -> any FrameConnection {
        let (listener, id): (InProcessListener?, Int) = lock.withLock {
            nextConnection += 1
            return (listeners[endpoint], nextConnection)
        }
        guard let listener else {
            throw TransportError.connectFailed(endpoint: endpoint, reason: "connection refused (no listener)")
        }
        let (a, b) = InProcessConnection.pair(
            clientName: "inproc:client#\(id)", serverName: "inproc:\(endpoint)", viaWireFormat: viaWireFormat)
        guard listener.accept(b) else {
            throw TransportError.connectFailed(endpoint: endpoint, reason: "listener closed")
        }
        return a
    }

    private func remove(_ endpoint: Endpoint) {
        lock.withLock { _ = listeners.removeValue(forKey: endpoint) }
    }
}

final class InProcessListener: FrameListener, @unchecked Sendable {
    let endpoint: Endpoint
    let connections: AsyncStream<any FrameConnection>
    private let continuation: AsyncStream<any FrameConnection>.Continuation
    private let onClose: @Sendable () -> Void
    private let lock = NSLock()
    private var closed = false

    init(endpoint: Endpoint, onClose: @escaping @Sendable () -> Void) {
        self.endpoint = endpoint
        self.onClose = onClose
        (connections, continuation) = AsyncStream.makeStream()
    }

    func accept(_ connection: InProcessConnection) -> Bool {
        lock.withLock {
            guard !closed else { return false }
            continuation.yield(connection)
            return true
        }
    }

    func close() async {
        lock.withLock { closed = true }
        continuation.finish()
        onClose()
    }
}

/// One end of an in-process connection.
public final class InProcessConnection: FrameConnection, @unchecked Sendable {
    public let peer: String
    public let inbound: AsyncThrowingStream<Frame, Error>
    private let inboundContinuation: AsyncThrowingStream<Frame, Error>.Continuation
    private let lock = NSLock()
    private weak var other: InProcessConnection?
    private var closed = false
    private let viaWireFormat: Bool

    init(peer: String, viaWireFormat: Bool) {
        self.peer = peer
        self.viaWireFormat = viaWireFormat
        (inbound, inboundContinuation) = AsyncThrowingStream.makeStream()
    }

    static func pair(clientName: String, serverName: String, viaWireFormat: Bool)
        -> (InProcessConnection, InProcessConnection) {
        let client = InProcessConnection(peer: serverName, viaWireFormat: viaWireFormat)
        let server = InProcessConnection(peer: clientName, viaWireFormat: viaWireFormat)
        client.other = server
        server.other = client
        return (client, server)
    }

    public func send(_ frame: Frame) {
        if viaWireFormat {
            sendRawBytes(WireFormat.encode(frame))
        } else if let other = lock.withLock({ closed ? nil : self.other }) {
            other.deliver(frame)
        }
    }

    /// Delivers raw bytes as if they came off a socket: the wire-format path of `send`, and tests
    /// of malformed input.
    public func sendRawBytes(_ bytes: [UInt8]) {
        guard let other = lock.withLock({ closed ? nil : self.other }) else { return }
        do {
            let decoded = try bytes.withUnsafeBytes { raw throws(WireError) in try WireFormat.decode(raw) }
            other.deliver(decoded)
        } catch {
            reject(by: other, error as? WireError ?? .malformedControl("\(error)"))
        }
    }

    /// What a socket receiver does with bytes that do not decode: tell the sender why, then close
    /// only this connection.
    private func reject(by receiver: InProcessConnection, _ error: WireError) {
        let kind: ErrorReport.Kind
        if case .unsupportedVersion = error { kind = .versionMismatch } else { kind = .malformedFrame }
        deliver(.control(.error(ErrorReport(kind: kind, reporter: peer,
                                            message: "rejected frame from \(receiver.peer): \(error)"))))
        receiver.fail(TransportError.malformedFrame(peer: receiver.peer, error))
    }

    public func sendAndWait(_ frame: Frame) async throws {
        if lock.withLock({ closed }) { throw TransportError.closed(peer: peer) }
        send(frame)
    }

    public func close() {
        let other: InProcessConnection? = lock.withLock {
            guard !closed else { return nil }
            closed = true
            return self.other
        }
        inboundContinuation.finish()
        other?.peerClosed()
    }

    private func deliver(_ frame: Frame) { inboundContinuation.yield(frame) }

    private func fail(_ error: Error) {
        inboundContinuation.finish(throwing: error)
        close()
    }

    private func peerClosed() {
        lock.withLock { closed = true }
        inboundContinuation.finish()
    }
}
