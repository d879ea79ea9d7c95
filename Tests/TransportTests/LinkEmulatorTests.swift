import Foundation
import Testing
import Transport
import TransportTCP
import TributaryCore

/// The data-path link emulator: delay and seeded jitter where the kernel has no netem.
@Suite struct LinkEmulatorTests {
    static func chunk(_ i: Int) -> Frame {
        let h = ChunkHeader(job: 1, origin: UInt32(i), opSeq: UInt64(i), totalCount: 4, elementOffset: 0, chunkIndex: 0,
                            chunkCount: 1, elementCount: 4, collective: .allreduce, dtype: .u8, op: .sum, flags: [],
                            root: 0, payloadLength: 4)
        return .chunk(h, payload: [UInt8(i), 1, 2, 3])
    }

    @Test(arguments: ["inproc", "tcp"])
    func framesArriveLateButInOrder(kind: String) async throws {
        let base: any FrameTransport = kind == "tcp" ? TCPTransport(localName: "t") : InProcessTransport()
        let net = LinkEmulatedTransport(base: base, seed: 7) { _ in LinkDelay(latency: 0.05, jitter: 0.01) }
        let listener = try await base.listen(on: Endpoint(host: "127.0.0.1", port: 0))
        let client = try await net.connect(to: listener.endpoint)
        var accepted = listener.connections.makeAsyncIterator()
        let server = try #require(await accepted.next())
        let start = ContinuousClock.now
        for i in 0..<20 { client.send(Self.chunk(i)) }
        // Sending returns at once: the delay is in flight, not in the caller.
        #expect(ContinuousClock.now - start < .milliseconds(40))
        var frames = server.inbound.makeAsyncIterator()
        var received: [Frame] = []
        var firstArrival: Duration?
        while received.count < 20, let f = try await frames.next() {
            if firstArrival == nil { firstArrival = ContinuousClock.now - start }
            received.append(f)
        }
        #expect(received == (0..<20).map(Self.chunk))
        // latency 50 ms ± 10 ms: nothing arrives before 40 ms; 20 frames pipelined take ~one latency, not 20.
        #expect(firstArrival! >= .milliseconds(39), "first frame after \(firstArrival!)")
        #expect(ContinuousClock.now - start < .milliseconds(500))
        client.close()
        await listener.close()
    }

    /// Loss on a TCP-carried frame is a retransmission: with every packet lost, each frame arrives
    /// one extra round trip late (never dropped).
    @Test func lossCostsARoundTripNotTheFrame() async throws {
        let base = InProcessTransport()
        let net = LinkEmulatedTransport(base: base, seed: 3) { _ in LinkDelay(latency: 0.02, jitter: 0, loss: 1) }
        let listener = try await base.listen(on: Endpoint(host: "inproc", port: 0))
        let client = try await net.connect(to: listener.endpoint)
        var accepted = listener.connections.makeAsyncIterator()
        let server = try #require(await accepted.next())
        let start = ContinuousClock.now
        client.send(Self.chunk(1))
        var frames = server.inbound.makeAsyncIterator()
        #expect(try await frames.next() == Self.chunk(1))
        #expect(ContinuousClock.now - start >= .milliseconds(59), "latency + retransmission round trip")
        client.close()
        await listener.close()
    }

    @Test func noDelayForUnknownPeersPassesStraightThrough() async throws {
        let base = InProcessTransport()
        let net = LinkEmulatedTransport(base: base, seed: 1) { _ in nil }
        let listener = try await base.listen(on: Endpoint(host: "inproc", port: 0))
        let client = try await net.connect(to: listener.endpoint)
        #expect(client is InProcessConnection, "no wrapper when the path has no delay")
        await listener.close()
    }
}
