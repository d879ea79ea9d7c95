import Foundation
import Testing
@testable import Bench

/// Two real socket endpoints over loopback: the sink on its own thread (the CLI puts it in a child process), the
/// sender on the test's. The exact byte count must survive the round trip; the rate only has to be positive.
@Suite struct SocketThroughputTests {
    @Test(arguments: [1, 1 << 20, (3 << 20) + 12_345])
    func acknowledgesExactlyTheBytesSent(bytes: Int) throws {
        let sink = try SinkThread.start()
        let (seconds, acknowledged) = try SocketThroughput.transfer(toPort: sink.port, bytes: bytes)
        try sink.join()
        #expect(acknowledged == UInt64(bytes))
        #expect(seconds > 0)
    }

    @Test func zeroBytesIsAcknowledgedAsZero() throws {
        let sink = try SinkThread.start()
        let (_, acknowledged) = try SocketThroughput.transfer(toPort: sink.port, bytes: 0)
        try sink.join()
        #expect(acknowledged == 0)
    }

    @Test func sendReportsAPositiveRate() throws {
        let sink = try SinkThread.start()
        let rate = try SocketThroughput.send(toPort: sink.port, bytes: 16 << 20)
        try sink.join()
        #expect(rate.isFinite && rate > 0)
    }

    @Test func connectingToAClosedPortNamesConnect() throws {
        // A port that was just free: bind port 0, learn the port, close the socket, then nobody listens there.
        let probe = try POSIXSocket.makeTCP()
        try POSIXSocket.bindLoopback(probe, port: 0)
        let port = try POSIXSocket.localPort(probe)
        POSIXSocket.closeSocket(probe)
        #expect(port > 0)
        do {
            _ = try SocketThroughput.send(toPort: port, bytes: 1 << 20)
            Issue.record("sending to a closed port succeeded")
        } catch let error as SocketError {
            guard case let .call(name, errno: code) = error else {
                Issue.record("unexpected error \(error)")
                return
            }
            #expect(name == "connect")
            #expect(code == ECONNREFUSED)
            #expect(error.description.hasPrefix("connect failed: "))
        }
    }

    @Test func invalidPortsAreRejected() {
        #expect(throws: SocketError.invalidPort(70_000)) { try SocketThroughput.serveSink(port: 70_000) { _ in } }
        #expect(throws: SocketError.invalidPort(0)) { try SocketThroughput.send(toPort: 0, bytes: 1) }
    }

    @Test func errorDescriptionsAreSpecific() {
        let mismatch = SocketError.countMismatch(sent: 10, acknowledged: 9)
        #expect(mismatch.description == "sent 10 bytes but the sink acknowledged 9")
        #expect(SocketError.closedBeforeAck(received: 3).description.contains("3 of the 8"))
    }
}

/// `SocketThroughput.serveSink` on a thread of its own, with its bound port and outcome.
final class SinkThread: @unchecked Sendable {
    private let lock = NSLock()
    private let bound = DispatchSemaphore(value: 0)
    private let finished = DispatchSemaphore(value: 0)
    private var boundPort = 0
    private var outcome: Result<Void, any Error> = .success(())

    var port: Int { lock.withLock { boundPort } }

    /// Starts the sink on port 0 and waits until it listens.
    static func start() throws -> SinkThread {
        let sink = SinkThread()
        let thread = Thread {
            let result = Result {
                try SocketThroughput.serveSink(port: 0) { port in
                    sink.lock.withLock { sink.boundPort = port }
                    sink.bound.signal()
                }
            }
            sink.lock.withLock { sink.outcome = result }
            sink.bound.signal()  // in case it failed before listening
            sink.finished.signal()
        }
        thread.start()
        guard sink.bound.wait(timeout: .now() + 30) == .success else { throw SinkTimeout() }
        try sink.lock.withLock { sink.outcome }.get()
        return sink
    }

    /// Waits for the sink to return, rethrowing its error.
    func join() throws {
        guard finished.wait(timeout: .now() + 60) == .success else { throw SinkTimeout() }
        try lock.withLock { outcome }.get()
    }
}

struct SinkTimeout: Error {}
