import Foundation
import Testing
import Transport
import TributaryCore

/// The delay line `delay:` faults send through: each frame leaves after its own delay, none
/// overtakes an earlier one, and the caller never waits.
@Suite struct FrameDelayLineTests {
    @Test func framesLeaveLateInOrderAndTheCallerDoesNotWait() async throws {
        let transport = InProcessTransport()
        let listener = try await transport.listen(on: Endpoint(host: "inproc", port: 0))
        let client = try await transport.connect(to: listener.endpoint)
        var accepted = listener.connections.makeAsyncIterator()
        let server = try #require(await accepted.next())
        let line = FrameDelayLine(client)
        let start = ContinuousClock.now
        // A long delay, then none: the second waits behind the first instead of overtaking it.
        line.send(LinkEmulatorTests.chunk(0), after: .milliseconds(60))
        line.send(LinkEmulatorTests.chunk(1), after: .zero)
        for i in 2..<10 { line.send(LinkEmulatorTests.chunk(i), after: .milliseconds(5)) }
        #expect(ContinuousClock.now - start < .milliseconds(40))
        var frames = server.inbound.makeAsyncIterator()
        var received: [Frame] = []
        var firstArrival: Duration?
        while received.count < 10, let f = try await frames.next() {
            if firstArrival == nil { firstArrival = ContinuousClock.now - start }
            received.append(f)
        }
        #expect(received == (0..<10).map(LinkEmulatorTests.chunk))
        #expect(firstArrival! >= .milliseconds(59), "first frame after \(firstArrival!)")
        line.finish()
        client.close()
        await listener.close()
    }
}
