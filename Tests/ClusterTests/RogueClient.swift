import Authentication
import Foundation
import Transport
@testable import TransportRDMA
import TributaryCore
import TributaryTestSupport
#if canImport(Glibc)
import Glibc
#endif

/// A misbehaving peer for tests: writes arbitrary bytes and reports what the daemon answered.
enum RogueClient {
    /// The transport of the most recent raw exchange (for follow-up hellos on the same fabric).
    nonisolated(unsafe) static var transport: any FrameTransport = InProcessTransport()

    /// Sends raw bytes; returns the text of the error frame the daemon answered with.
    static func sendRaw(_ bytes: [UInt8], to endpoint: Endpoint, over net: any FrameTransport) async throws -> String {
        transport = net
        if let inproc = net as? InProcessTransport {
            let connection = try await inproc.connect(to: endpoint)
            (connection as! InProcessConnection).sendRawBytes(bytes)
            return try await firstError(connection)
        }
        if net is RDMATransport {
            let connection = try await net.connect(to: endpoint)
            (connection as! RDMAConnection).sendRawBytes(bytes)
            return try await firstError(connection)
        }
        return try socketExchange(bytes, endpoint: endpoint)
    }

    /// Answers the daemon's challenge with `hello`, proved with `key` (nil: no proof at all); returns
    /// the daemon's error text (or "ack").
    static func hello(_ hello: Hello, key: AuthKey? = nil, to endpoint: Endpoint, over net: any FrameTransport)
        async throws -> String {
        let connection = try await net.connect(to: endpoint)
        defer { connection.close() }
        var inbound = connection.inbound.makeAsyncIterator()
        guard case .control(.challenge(let challenge))? = try await inbound.next() else {
            return "no challenge first"
        }
        connection.send(.control(.hello(key.map { Handshake.answer(challenge, with: hello, key: $0) } ?? hello)))
        while let frame = try await inbound.next() {
            if case .control(.error(let r)) = frame { return r.description }
            if case .control(.helloAck) = frame { return "ack" }
        }
        return "closed without a reply"
    }

    /// An authenticated control connection to the coordinator (a peer holding `key` for `role`):
    /// sends `messages` after the handshake and returns the first error text, or "no error within
    /// <wait>" if the coordinator answered none in time. An expected error returns as soon as it
    /// arrives, so the default `wait` is generous: under the VM's emulated CPUs, with a job running
    /// beside it, a refusal took more than half a second to come back.
    static func control(_ messages: [ControlMessage], as role: Role, key: AuthKey, to endpoint: Endpoint,
                        over net: any FrameTransport, wait: Duration = .seconds(15)) async throws -> String {
        let connection: any FrameConnection
        let box: IteratorBox
        do {
            (connection, box) = try await Handshake.open(endpoint, over: net, hello: Hello(role: role, name: "rogue"),
                                                         key: key, timeout: .seconds(5))
        } catch {
            return "\(error)"
        }
        defer { connection.close() }
        for m in messages { connection.send(.control(m)) }
        let reader = Task { () -> String in
            while let frame = try await box.iterator.next() {
                if case .control(.error(let r)) = frame { return r.description }
            }
            return "closed without an error"
        }
        let timer = Task { () -> Bool in
            try await Task.sleep(for: wait)
            reader.cancel()
            connection.close()
            return true
        }
        let reply = (try? await reader.value) ?? "no error"
        timer.cancel()
        // A reader ended by the timer's close saw the end of the stream, not the coordinator's.
        if (try? await timer.value) == true { return "no error within \(wait)" }
        return reply
    }

    private static func firstError(_ connection: any FrameConnection) async throws -> String {
        defer { connection.close() }
        for try await frame in connection.inbound {
            if case .control(.error(let r)) = frame { return r.description }
            if case .control(.helloAck) = frame { return "ack" }
        }
        return "closed without a reply"
    }

    /// Plain blocking socket: the bytes go out exactly as given.
    private static func socketExchange(_ bytes: [UInt8], endpoint: Endpoint) throws -> String {
        let fd = try RawSocket.connect(endpoint)
        defer { close(fd) }
        RawSocket.write(fd, bytes)
        let received = RawSocket.readAll(fd)
        var acc = FrameAccumulator()
        for frame in (try? acc.feed(received)) ?? [] {
            if case .control(.error(let r)) = frame { return r.description }
        }
        return "no error frame (\(received.count) bytes)"
    }
}
