import Foundation
import Testing
import Transport
import TransportRDMA
@testable import TransportTCP
import TributaryCore
import TributaryTestSupport
import Verbs

/// The contract every transport fulfils, run over each one (gloo's habit: one suite, many homes).
///
/// RDMA needs a device, so it runs in the rxe VM: `scripts/rdma-tests` sets
/// `TRIBUTARY_TEST_TRANSPORTS=rdma` and the suite runs over RDMA WRITE with immediate and over SEND
/// there; on a host without RDMA the kinds are the in-process and TCP ones. The time limit turns a
/// hang into a failure (a VM run has no one to press Ctrl-C).
@Suite(.timeLimit(.minutes(2))) struct TransportContractTests {
    enum Kind: String, CaseIterable, CustomStringConvertible {
        case inproc, inprocDirect, tcp, rdma, rdmaSend
        var description: String { rawValue }

        static var allCases: [Kind] {
            guard let list = ProcessInfo.processInfo.environment["TRIBUTARY_TEST_TRANSPORTS"] else {
                return [.inproc, .inprocDirect, .tcp]
            }
            return list.split(separator: ",").flatMap { name -> [Kind] in
                name == "rdma" ? [.rdma, .rdmaSend] : Kind(rawValue: String(name)).map { [$0] } ?? []
            }
        }

        func make() -> any FrameTransport {
            switch self {
            case .inproc: return InProcessTransport(viaWireFormat: true)
            case .inprocDirect: return InProcessTransport(viaWireFormat: false)
            case .tcp: return TCPTransport(localName: "contract-test")
            case .rdma: return RDMATransport(localName: "contract-test", configuration: .init(receiveBufferCount: 8))
            case .rdmaSend:
                return RDMATransport(localName: "contract-test", configuration: .init(receiveBufferCount: 8,
                                                                                      operation: .send))
            }
        }

        /// Where listeners bind: soft-RoCE serves no loopback, so RDMA uses rxe0's address.
        var host: String {
            switch self {
            case .rdma, .rdmaSend:
                return RDMATestHost.address
            default:
                return "127.0.0.1"
            }
        }
    }

    static func chunk(_ i: Int, elements: Int) -> Frame { testChunk(i, elements: elements) }

    /// Accepts one connection on a fresh listener and returns both ends.
    static func pair(_ net: any FrameTransport, host: String, listener existing: (any FrameListener)? = nil)
        async throws -> (any FrameListener, any FrameConnection, any FrameConnection) {
        let listener = if let existing { existing } else { try await net.listen(on: Endpoint(host: host, port: 0)) }
        #expect(listener.endpoint.port != 0, "port 0 must become a real port")
        let client = try await net.connect(to: listener.endpoint)
        var it = listener.connections.makeAsyncIterator()
        let server = try #require(await it.next())
        // These tests are about the transport, not the handshake: both ends take full-size frames.
        // A heartbeat each way afterwards, as a handshake's last two steps, orders the lifting before
        // any test frame.
        client.authenticated()
        server.authenticated()
        try await pingPong(client, server)
        return (listener, client, server)
    }

    static func pingPong(_ client: any FrameConnection, _ server: any FrameConnection) async throws {
        client.send(.control(.heartbeat(Heartbeat(sequence: 0))))
        var s = server.inbound.makeAsyncIterator()
        #expect(try await s.next() == .control(.heartbeat(Heartbeat(sequence: 0))))
        server.send(.control(.heartbeat(Heartbeat(sequence: 0))))
        var c = client.inbound.makeAsyncIterator()
        #expect(try await c.next() == .control(.heartbeat(Heartbeat(sequence: 0))))
    }

    /// Until its peer authenticates, a connection holds it to a hello's size: a stranger cannot
    /// make the receiver take a large frame, and afterwards the same frame passes.
    @Test func tcpUnauthenticatedPeersAreHeldToSmallFrames() async throws {
        let net = TCPTransport(localName: "receiver")
        let listener = try await net.listen(on: Endpoint(host: "127.0.0.1", port: 0))
        let client = try await net.connect(to: listener.endpoint)
        var it = listener.connections.makeAsyncIterator()
        let server = try #require(await it.next())
        let big = Self.chunk(1, elements: WireFormat.preAuthenticationMaxBody / 4 + 1)
        client.send(big)
        do {
            for try await _ in server.inbound {}
            Issue.record("an unauthenticated peer's large frame was accepted")
        } catch let error as TransportError {
            guard case .malformedFrame(_, .oversized(_, let limit)) = error else { Issue.record("\(error)"); return }
            #expect(limit == WireFormat.preAuthenticationMaxBody)
        }
        let (_, client2, server2) = try await Self.pair(net, host: "127.0.0.1", listener: listener)
        client2.send(big)
        var frames = server2.inbound.makeAsyncIterator()
        #expect(try await frames.next() == big)
        client.close()
        client2.close()
        await listener.close()
    }

    @Test(arguments: Kind.allCases)
    func framesArriveWholeAndInOrderBothWays(kind: Kind) async throws {
        let net = kind.make()
        let (listener, client, server) = try await Self.pair(net, host: kind.host)
        let sizes = [0, 1, 3, 1000, 65_537, 1 << 20]
        var sent: [Frame] = sizes.enumerated().map { Self.chunk($0.offset, elements: $0.element) }
        sent.append(.control(.hello(Hello(role: .worker, name: "rank 0"))))
        for f in sent { client.send(f) }
        var received: [Frame] = []
        var it = server.inbound.makeAsyncIterator()
        while received.count < sent.count, let f = try await it.next() { received.append(f) }
        #expect(received == sent)
        // And back.
        for f in sent.reversed() { server.send(f) }
        var back: [Frame] = []
        var it2 = client.inbound.makeAsyncIterator()
        while back.count < sent.count, let f = try await it2.next() { back.append(f) }
        #expect(back == sent.reversed())
        client.close()
        server.close()
        await listener.close()
    }

    /// `serveFrames` hands over every frame in order — those already waiting in `inbound` when it
    /// starts, then those the transport delivers inline while and after it switches — and says
    /// how the connection ended: closed by the peer, or stopped by the handler.
    @Test(arguments: Kind.allCases)
    func serveFramesKeepsOrderAcrossTheSwitchAndSaysHowItEnded(kind: Kind) async throws {
        let net = kind.make()
        let (listener, client, server) = try await Self.pair(net, host: kind.host)
        let sent = (0..<300).map { Self.chunk($0, elements: $0 % 9) }
        for f in sent[..<100] { client.send(f) }
        try await client.sendAndWait(.control(.heartbeat(Heartbeat(sequence: 7))))
        let received = FrameLog()
        let box = IteratorBox(server.inbound.makeAsyncIterator())
        async let ended = server.serveFrames(after: box) { received.append($0) }
        for f in sent[100...] { client.send(f) }
        try await within(30, "all \(sent.count + 1) frames served") {
            while received.count < sent.count + 1 { try await Task.sleep(for: .milliseconds(5)) }
        }
        client.close()
        let end = await ended
        var expected = Array(sent[..<100])
        expected.append(.control(.heartbeat(Heartbeat(sequence: 7))))
        expected += sent[100...]
        #expect(received.frames == expected)
        guard case .closed = end else { Issue.record("\(kind): ended \(end), not closed"); return }

        // A handler that says stop ends serving at that frame; later frames are not handed over.
        let (_, client2, server2) = try await Self.pair(net, host: kind.host, listener: listener)
        let stopAt = FrameLog()
        async let stopped = server2.serveFrames(after: IteratorBox(server2.inbound.makeAsyncIterator())) { frame in
            stopAt.append(frame)
            return stopAt.count < 5
        }
        for f in sent[..<20] { client2.send(f) }
        let end2 = await stopped
        guard case .stopped = end2 else { Issue.record("\(kind): ended \(end2), not stopped"); return }
        try await Task.sleep(for: .milliseconds(50))
        #expect(stopAt.frames == Array(sent[..<5]))
        client2.close()
        server2.close()
        await listener.close()
    }

    /// A worker's operations run on `taskExecutor` (TCP: the event loop that does the I/O, so a send
    /// is written at once and a reply resumes the caller in the same turn of the loop). Request and
    /// reply, one at a time as a small allreduce goes, must flow there without a hang, in order; over
    /// TCP the task is on the loop indeed.
    @Test(arguments: Kind.allCases)
    func aTaskOnTheTransportsExecutorSendsAndAwaitsFrames(kind: Kind) async throws {
        let net = kind.make()
        if kind == .tcp { #expect(net.taskExecutor != nil) }
        try await within(60, "500 round trips on \(kind)'s executor") {
            try await withTaskExecutorPreference(net.taskExecutor) {
                let (listener, client, server) = try await Self.pair(net, host: kind.host)
                if let tcp = net as? TCPTransport {
                    #expect(tcp.loopExecutor.loop.inEventLoop, "the task runs on the transport's event loop")
                }
                // The far end echoes every frame from its reading thread.
                async let served = server.serveFrames(after: IteratorBox(server.inbound.makeAsyncIterator())) { frame in
                    server.send(frame)
                    return true
                }
                var replies = client.inbound.makeAsyncIterator()
                for i in 0..<500 {
                    let frame = Self.chunk(i, elements: i % 5)
                    client.send(frame)
                    let reply = try await replies.next()
                    #expect(reply == frame, "round trip \(i)")
                    if reply != frame { break }
                }
                client.close()
                _ = await served
                server.close()
                await listener.close()
            }
        }
    }

    @Test(arguments: Kind.allCases)
    func closeFinishesThePeersInbound(kind: Kind) async throws {
        let net = kind.make()
        let (listener, client, server) = try await Self.pair(net, host: kind.host)
        client.send(.control(.shutdown(Shutdown(reason: "bye"))))
        try await client.sendAndWait(.control(.heartbeat(Heartbeat(sequence: 1))))
        client.close()
        var frames = 0
        for try await _ in server.inbound { frames += 1 }
        #expect(frames == 2)
        await listener.close()
    }

    @Test(arguments: Kind.allCases)
    func connectingToNothingFailsWithTheEndpointNamed(kind: Kind) async throws {
        let net = kind.make()
        let listener = try await net.listen(on: Endpoint(host: kind.host, port: 0))
        let endpoint = listener.endpoint
        await listener.close()
        do {
            _ = try await net.connect(to: endpoint)
            Issue.record("connect to a closed listener succeeded")
        } catch let error as TransportError {
            guard case .connectFailed(let e, _) = error else { Issue.record("\(error)"); return }
            #expect(e == endpoint)
            #expect("\(error)".contains("\(endpoint)"))
        }
    }

    @Test(arguments: Kind.allCases)
    func manyConnectionsToOneListener(kind: Kind) async throws {
        let net = kind.make()
        let listener = try await net.listen(on: Endpoint(host: kind.host, port: 0))
        var clients: [any FrameConnection] = []
        for _ in 0..<8 { clients.append(try await net.connect(to: listener.endpoint)) }
        for (i, c) in clients.enumerated() { c.send(Self.chunk(i, elements: i * 10)) }
        var it = listener.connections.makeAsyncIterator()
        var seen: Set<UInt32> = []
        for _ in 0..<8 {
            let server = try #require(await it.next())
            var frames = server.inbound.makeAsyncIterator()
            if case .chunk(let h, let payload)? = try await frames.next() {
                #expect(Self.chunk(Int(h.origin), elements: Int(h.elementCount)) == .chunk(h, payload: payload))
                seen.insert(h.origin)
            }
        }
        #expect(seen == Set(0..<8))
        for c in clients { c.close() }
        await listener.close()
    }

    /// Bytes that do not decode end only that connection, with the cause told to the sender and
    /// surfaced on the receiver as a typed error.
    @Test func tcpMalformedBytesAreRejectedWithACause() async throws {
        let net = TCPTransport(localName: "receiver")
        let listener = try await net.listen(on: Endpoint(host: "127.0.0.1", port: 0))
        var frame = WireFormat.encode(Self.chunk(1, elements: 4))
        frame[12 + 45] = 250 // unknown dtype
        let fd = try RawSocket.connect(listener.endpoint)
        defer { close(fd) }
        RawSocket.write(fd, frame)
        var it = listener.connections.makeAsyncIterator()
        let server = try #require(await it.next())
        do {
            for try await _ in server.inbound {}
            Issue.record("malformed frame was accepted")
        } catch let error as TransportError {
            guard case .malformedFrame(_, let wire) = error else { Issue.record("\(error)"); return }
            #expect(wire == .unknownDType(250))
        }
        var acc = FrameAccumulator()
        let reply = try acc.feed(RawSocket.readAll(fd))
        guard case .control(.error(let report))? = reply.first else {
            Issue.record("no error frame came back: \(reply)")
            return
        }
        #expect(report.kind == .malformedFrame)
        #expect(report.message.contains("unknown dtype 250"))
        // The listener still accepts and serves others.
        let good = try await net.connect(to: listener.endpoint)
        good.send(Self.chunk(2, elements: 2))
        let second = try #require(await it.next())
        var frames = second.inbound.makeAsyncIterator()
        #expect(try await frames.next() == Self.chunk(2, elements: 2))
        good.close()
        await listener.close()
    }

    @Test func tcpPeerClosingMidFrameIsAnError() async throws {
        let net = TCPTransport(localName: "receiver")
        let listener = try await net.listen(on: Endpoint(host: "127.0.0.1", port: 0))
        let frame = WireFormat.encode(Self.chunk(1, elements: 100))
        let fd = try RawSocket.connect(listener.endpoint)
        RawSocket.write(fd, Array(frame.prefix(200)))
        close(fd)
        var it = listener.connections.makeAsyncIterator()
        let server = try #require(await it.next())
        await #expect(throws: TransportError.self) { for try await _ in server.inbound {} }
        await listener.close()
    }
}

/// Frames a handler was given, in order, from whatever thread gave them.
final class FrameLog: @unchecked Sendable {
    private let lock = NSLock()
    private var log: [Frame] = []

    /// Records `frame`; true (go on), for use as a `serveFrames` handler.
    @discardableResult
    func append(_ frame: Frame) -> Bool {
        lock.withLock { log.append(frame) }
        return true
    }

    var frames: [Frame] { lock.withLock { log } }
    var count: Int { lock.withLock { log.count } }
}
