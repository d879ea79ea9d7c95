import Foundation
import Testing
import Transport
@testable import TransportRDMA
import TributaryCore
import TributaryTestSupport
import Verbs

/// What the transport contract (Tests/TransportTests/TransportContractTests.swift, run over RDMA in
/// the VM) does not cover: mixed operations, malformed input from an RDMA peer, credits, peers that
/// vanish, queue pair errors, registration and zero-copy, placement. Serialized: soft-RoCE under
/// emulation is slow and memory is small.
@Suite(.serialized, .enabled(if: RDMATestHost.usable, "needs an RDMA device (run inside the rxe VM: scripts/rdma-tests)"))
struct RDMATransportTests {
    static func chunk(_ i: Int, elements: Int) -> Frame { testChunk(i, elements: elements) }

    /// A connected pair: `client` from `net`, `server` accepted by `serverNet` (default: the same).
    static func pair(_ net: RDMATransport, server serverNet: RDMATransport? = nil) async throws
        -> (any FrameListener, any FrameConnection, any FrameConnection) {
        let listener = try await (serverNet ?? net).listen(on: Endpoint(host: RDMATestHost.address, port: 0))
        #expect(listener.endpoint.port != 0, "port 0 must become a real port")
        let client = try await within(30, "connect") { try await net.connect(to: listener.endpoint) }
        let server = try await within(30, "accept") {
            var it = listener.connections.makeAsyncIterator()
            return try #require(await it.next())
        }
        return (listener, client, server)
    }

    /// How `connection`'s inbound ended: "finished" or the error's text (failing after `seconds`).
    static func ending(of connection: any FrameConnection, seconds: Double = 60) async throws -> String {
        try await within(seconds, "\(connection.peer)'s inbound to end") { () -> String in
            do {
                for try await _ in connection.inbound {}
                return "finished"
            } catch {
                return "\(error)"
            }
        }
    }

    static func receive(_ count: Int, from connection: any FrameConnection, seconds: Double = 60) async throws
        -> [Frame] {
        try await within(seconds, "receiving \(count) frames from \(connection.peer)") {
            var received: [Frame] = []
            var it = connection.inbound.makeAsyncIterator()
            while received.count < count, let f = try await it.next() { received.append(f) }
            return received
        }
    }

    /// One side sends with SEND, the other with RDMA WRITE with immediate: the receiver handles both
    /// opcodes whatever it sends with itself. (Each operation on both sides is the transport
    /// contract suite's, Tests/TransportTests, run over RDMA in the VM.)
    @Test(arguments: [(RDMATransport.Operation.send, RDMATransport.Operation.writeWithImmediate),
                      (.writeWithImmediate, .send)])
    func mixedOperationsCarryFramesBothWays(client clientOp: RDMATransport.Operation,
                                            server serverOp: RDMATransport.Operation) async throws {
        let net = RDMATransport(localName: "contract-test", configuration: .init(operation: clientOp))
        let serverNet = RDMATransport(localName: "contract-test", configuration: .init(operation: serverOp))
        let (listener, client, server) = try await Self.pair(net, server: serverNet)
        let sizes = [0, 1, 3, 1000, 65_537, 1 << 20]
        var sent: [Frame] = sizes.enumerated().map { Self.chunk($0.offset, elements: $0.element) }
        sent.append(.control(.hello(Hello(role: .worker, name: "rank 0"))))
        for f in sent { client.send(f) }
        #expect(try await Self.receive(sent.count, from: server) == sent)
        for f in sent.reversed() { server.send(f) }
        #expect(try await Self.receive(sent.count, from: client) == sent.reversed())
        client.close()
        server.close()
        await listener.close()
    }

    /// Bytes that do not decode end only that connection, with the cause told to the sender and
    /// surfaced on the receiver as a typed error.
    @Test func malformedBytesAreRejectedWithACause() async throws {
        let net = RDMATransport(localName: "receiver")
        let (listener, client, server) = try await Self.pair(net)
        var frame = WireFormat.encode(Self.chunk(1, elements: 4))
        frame[12 + 45] = 250 // unknown dtype
        try #require(client as? RDMAConnection).sendRawBytes(frame)
        do {
            try await within(30, "the server to reject") { for try await _ in server.inbound {} }
            Issue.record("malformed frame was accepted")
        } catch let error as TransportError {
            guard case .malformedFrame(let peer, let wire) = error else { Issue.record("\(error)"); return }
            #expect(wire == .unknownDType(250))
            #expect(peer == server.peer)
        }
        // The sender hears why, then its inbound ends.
        let reply = try await within(30, "the error frame and the end") {
            var frames: [Frame] = []
            do { for try await f in client.inbound { frames.append(f) } } catch {}
            return frames
        }
        guard case .control(.error(let report))? = reply.first else {
            Issue.record("no error frame came back: \(reply)")
            return
        }
        #expect(report.kind == .malformedFrame)
        #expect(report.message.contains("unknown dtype 250"))
        // The listener still accepts and serves others.
        let good = try await within(30, "connect") { try await net.connect(to: listener.endpoint) }
        good.send(Self.chunk(2, elements: 2))
        let second = try await within(30, "accept") {
            var it = listener.connections.makeAsyncIterator()
            return try #require(await it.next())
        }
        #expect(try await Self.receive(1, from: second) == [Self.chunk(2, elements: 2)])
        good.close()
        await listener.close()
    }

    @Test func peerClosingMidFrameIsAnError() async throws {
        let net = RDMATransport(localName: "receiver")
        let (listener, client, server) = try await Self.pair(net)
        let frame = WireFormat.encode(Self.chunk(1, elements: 100))
        try #require(client as? RDMAConnection).sendRawBytes(Array(frame.prefix(200)))
        client.close()
        await #expect(throws: TransportError.self) {
            try await within(30, "the server's inbound to end") { for try await _ in server.inbound {} }
        }
        await listener.close()
    }

    /// Far more pieces than either side posts receives, both ways at once, with tiny buffers: the
    /// credits (piggybacked and credit-only) keep it going, and everything arrives whole and in order.
    @Test(arguments: RDMATransport.Operation.allCases)
    func burstBeyondTheReceiversCreditsArrivesWholeAndInOrder(operation: RDMATransport.Operation) async throws {
        let net = RDMATransport(localName: "credits", configuration: .init(
            receiveBufferCount: 4, receiveBufferSize: 4096, sendBufferCount: 3, operation: operation))
        let (listener, client, server) = try await Self.pair(net)
        let frames = (0..<400).map { Self.chunk($0, elements: ($0 * 37) % 3000) }
        let payload = [UInt8](repeating: 7, count: 10_000)
        for (i, f) in frames.enumerated() {
            client.send(f)
            if i % 4 == 0 { server.send(.control(.heartbeat(Heartbeat(sequence: UInt64(i))))) }
            if i % 50 == 0 {
                let h = ChunkHeader(job: 2, origin: 0, opSeq: UInt64(i), totalCount: 2500, elementOffset: 0,
                                    chunkIndex: 0, chunkCount: 1, elementCount: 2500, collective: .allreduce,
                                    dtype: .u32, op: .sum, flags: [], root: 0, payloadLength: 10_000)
                payload.withUnsafeBytes { server.sendChunk(h, payload: $0) }
            }
        }
        async let atServer = Self.receive(frames.count, from: server, seconds: 120)
        async let atClient = Self.receive(100 + 8, from: client, seconds: 120)
        #expect(try await atServer == frames)
        let back = try await atClient
        #expect(back.count == 108)
        #expect(back.filter { if case .control = $0 { true } else { false } }.count == 100)
        client.close()
        server.close()
        await listener.close()
    }

    /// A peer whose queue pair dies without a disconnect: the survivor's sends fail (retry exceeded)
    /// and its inbound ends with an error naming the peer, within a timeout; it never hangs.
    @Test func peerDisappearingMidStreamEndsInbound() async throws {
        let net = RDMATransport(localName: "survivor", configuration: .init(
            keepaliveInterval: .seconds(1), peerTimeout: .seconds(5)))
        let (listener, client, server) = try await Self.pair(net)
        server.send(Self.chunk(1, elements: 100))
        #expect(try await Self.receive(1, from: client).count == 1)
        let vanished = try #require(client as? RDMAConnection)
        vanished.vanish()
        let sender = Task {
            var sequence: UInt64 = 0
            while !Task.isCancelled {
                sequence += 1
                server.send(.control(.heartbeat(Heartbeat(sequence: sequence))))
                try await Task.sleep(for: .milliseconds(100))
            }
        }
        defer { sender.cancel() }
        let ended = try await Self.ending(of: server, seconds: 90)
        #expect(ended.contains(server.peer), "\(ended)")
        print("survivor's inbound ended: \(ended)")
        withExtendedLifetime(vanished) {}
        server.close()
        await listener.close()
    }

    /// The same while the survivor sends nothing: its keepalive pieces find the peer gone.
    @Test func peerDisappearingWhileIdleEndsInbound() async throws {
        let net = RDMATransport(localName: "survivor", configuration: .init(
            keepaliveInterval: .seconds(1), peerTimeout: .seconds(5)))
        let (listener, client, server) = try await Self.pair(net)
        let vanished = try #require(client as? RDMAConnection)
        vanished.vanish()
        let ended = try await Self.ending(of: server)
        #expect(ended.contains(server.peer), "\(ended)")
        withExtendedLifetime(vanished) {}
        server.close()
        await listener.close()
    }

    /// A peer whose queue pair stays up but which stops reposting receives (its process hung): the
    /// sender's pieces wait for credits, and after `peerTimeout` its inbound ends naming the peer
    /// and the credits, instead of waiting forever with nothing posted for the watchdog to see.
    @Test func creditsNeverReturningEndInboundNamingThePeer() async throws {
        let net = RDMATransport(localName: "starved", configuration: .init(
            receiveBufferCount: 4, receiveBufferSize: 4096, sendBufferCount: 3,
            keepaliveInterval: .seconds(1), peerTimeout: .seconds(3)))
        let (listener, client, server) = try await Self.pair(net)
        let hung = try #require(client as? RDMAConnection)
        hung.holdReceives()
        for i in 0..<20 { server.send(Self.chunk(i, elements: 2000)) }
        let ended = try await Self.ending(of: server, seconds: 60)
        print("starved sender's inbound ended: \(ended)")
        #expect(ended.contains(server.peer), "\(ended)")
        #expect(ended.contains("receive credits the peer never returned"), "\(ended)")
        client.close()
        server.close()
        await listener.close()
    }

    /// A queue pair error: a WRITE names a key the peer never registered, the peer's adapter
    /// refuses it (remote access error) and the writer's queue pair goes to ERR. The writer's
    /// inbound ends with the work completion's status, opcode and work request and the peer; the
    /// other side's ends too — neither hangs, and later sends on either side are refused, not lost
    /// silently.
    @Test func queuePairErrorEndsBothSidesNamingTheCause() async throws {
        let net = RDMATransport(localName: "qp-error", configuration: .init(
            keepaliveInterval: .seconds(1), peerTimeout: .seconds(5), operation: .writeWithImmediate))
        let (listener, client, server) = try await Self.pair(net)
        client.send(Self.chunk(1, elements: 100))
        #expect(try await Self.receive(1, from: server).count == 1)
        let writer = try #require(client as? RDMAConnection)
        writer.corruptRemoteKey()
        client.send(Self.chunk(2, elements: 100))
        let atWriter = try await Self.ending(of: client)
        #expect(atWriter.contains(client.peer), "\(atWriter)")
        #expect(atWriter.contains("remote access error"), "\(atWriter)")
        #expect(atWriter.contains("(RDMA_WRITE_WITH_IMM)"), "\(atWriter)")
        #expect(atWriter.contains("work request"), "\(atWriter)")
        // The peer hears of it as the writer's disconnect or as its own flushed receives, whichever
        // comes first; either way its inbound ends and its sends are refused.
        let atPeer = try await Self.ending(of: server)
        print("writer: \(atWriter)\npeer: \(atPeer)")
        let beat = Frame.control(.heartbeat(Heartbeat(sequence: 9)))
        await #expect(throws: TransportError.self) { try await client.sendAndWait(beat) }
        await #expect(throws: TransportError.self) { try await server.sendAndWait(beat) }
        client.close()
        server.close()
        await listener.close()
    }

    /// Registration is done once and reused: the same buffer or a part of it costs no second
    /// `ibv_reg_mr`; payloads inside it are found, others are not; the last deregister drops it.
    @Test func registeringReusesAndDeregisteringReleases() async throws {
        let net = RDMATransport(localName: "registration")
        let (listener, client, server) = try await Self.pair(net)
        let connection = try #require(client as? RDMAConnection)
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 20, alignment: 4096)
        defer { buffer.deallocate() }
        let whole = UnsafeRawBufferPointer(buffer)
        let part = UnsafeRawBufferPointer(rebasing: whole[4096..<(1 << 19)])
        #expect(try client.register(whole))
        #expect(try client.register(whole))
        #expect(try client.register(part))
        #expect(connection.registrations.registrations == 1)
        #expect(connection.registrations.reuses == 2)
        #expect(connection.registrations.segment(covering: UnsafeRawBufferPointer(rebasing: whole[100..<9000]))?.offset == 100)
        let outside = UnsafeMutableRawBufferPointer.allocate(byteCount: 64, alignment: 64)
        defer { outside.deallocate() }
        #expect(connection.registrations.segment(covering: UnsafeRawBufferPointer(outside)) == nil)
        client.deregister(part)
        client.deregister(whole)
        #expect(connection.registrations.segment(covering: part) != nil, "one register of the whole buffer is left")
        client.deregister(whole)
        #expect(connection.registrations.segment(covering: part) == nil)
        #expect(connection.registrations.registeredBytes == 0)
        client.close()
        server.close()
        await listener.close()
    }

    /// Chunks from a registered buffer go without a copy — larger than a piece (a 1 MiB chunk over
    /// 64 KiB pieces), exactly a piece, between copied chunks and control frames; one below the
    /// threshold is copied — and all arrive byte for byte, in order, over both operations.
    @Test(arguments: RDMATransport.Operation.allCases)
    func registeredPayloadsArriveIntactWithoutACopy(operation: RDMATransport.Operation) async throws {
        let net = RDMATransport(localName: "zero-copy", configuration: .init(
            receiveBufferCount: 6, receiveBufferSize: 64 << 10, sendBufferCount: 24, operation: operation,
            zeroCopyThreshold: 4096))
        let (listener, client, server) = try await Self.pair(net)
        let connection = try #require(client as? RDMAConnection)
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 20, alignment: 4096)
        defer { buffer.deallocate() }
        for i in buffer.indices { buffer[i] = UInt8(truncatingIfNeeded: i &* 7 &+ i >> 9) }
        #expect(try client.register(UnsafeRawBufferPointer(buffer)))
        var expected: [Frame] = []
        let sizes = [4096, 1 << 20, 100, 65_536 - 60, 65_536, 300_001, 8192 + 3]
        var offset = 0
        for (i, size) in sizes.enumerated() {
            let start = min(offset, buffer.count - size)
            let payload = UnsafeRawBufferPointer(rebasing: UnsafeRawBufferPointer(buffer)[start..<(start + size)])
            let header = ChunkHeader(job: 3, origin: 0, opSeq: UInt64(i), totalCount: UInt64(size), elementOffset: 0,
                                     chunkIndex: 0, chunkCount: 1, elementCount: UInt32(size), collective: .allreduce,
                                     dtype: .u8, op: .sum, flags: [], root: 0, payloadLength: UInt32(size))
            client.sendChunk(header, payload: payload)
            expected.append(.chunk(header, payload: Array(payload)))
            if i % 2 == 0 {
                let copied = Self.chunk(100 + i, elements: 1000)
                client.send(copied)
                expected.append(copied)
            }
            // Every send buffer free again before the next chunk: each registered one can go whole.
            let beat = Frame.control(.heartbeat(Heartbeat(sequence: UInt64(i))))
            try await within(60, "sendAndWait") { try await client.sendAndWait(beat) }
            expected.append(beat)
            offset += 77_777
        }
        try await within(60, "waitForSends") { try await client.waitForSends() }
        #expect(try await Self.receive(expected.count, from: server, seconds: 120) == expected)
        #expect(connection.zeroCopyChunks == sizes.filter { $0 >= 4096 }.count)
        client.deregister(UnsafeRawBufferPointer(buffer))
        client.close()
        server.close()
        await listener.close()
    }

    /// `setPlacement`: chunk payloads land in the receiver's memory, as over TCP.
    @Test func placementWritesPayloadsWhereTheReceiverSays() async throws {
        let net = RDMATransport(localName: "placement")
        let (listener, client, server) = try await Self.pair(net)
        let target = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 20, alignment: 64)
        defer { target.deallocate() }
        let address = Int(bitPattern: target.baseAddress!)
        server.setPlacement { _ in UnsafeMutableRawPointer(bitPattern: address) }
        let sent = Self.chunk(3, elements: 200_000)
        client.send(sent)
        let got = try await Self.receive(1, from: server)
        guard case .chunk(let h, let payload)? = got.first, case .chunk(_, let original) = sent else {
            Issue.record("no chunk: \(got)")
            return
        }
        #expect(payload.isEmpty)
        #expect(h.payloadLength == 800_000)
        #expect(Array(target.prefix(800_000)) == original)
        client.close()
        server.close()
        await listener.close()
    }
}

/// Runs everywhere: the handshake and the configuration checks need no device.
@Suite struct RDMAHandshakeTests {
    @Test func handshakeRoundTripsAndRejectsForeignData() {
        let h = Handshake(receiveCount: 16, receiveSize: 266_240,
                          ring: RemoteBuffer(address: 0x7F12_3456_7000, rkey: 0xDEAD_BEEF))
        #expect(h.encoded.count == Handshake.size)
        #expect(Handshake(h.encoded) == h)
        #expect(Handshake(h.encoded + [UInt8](repeating: 0, count: 24)) == h)
        var oldVersion = h.encoded
        oldVersion[4] = 1
        #expect(Handshake(oldVersion) == nil)
        #expect(Handshake([0x54, 0x52]) == nil)
        var wrongMagic = h.encoded
        wrongMagic[0] ^= 1
        #expect(Handshake(wrongMagic) == nil)
    }

    @Test func transportIsNamedRDMA() {
        #expect(RDMATransport(localName: "x").name == "rdma")
    }
}
