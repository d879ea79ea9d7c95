import Foundation
import Transport
import TributaryCore

/// A one-way stream of chunk frames over one connection of a `FrameTransport`: the transport-level
/// counterpart of perftest's `ib_write_bw` (and of the raw socket limit), so Tributary's own data
/// path — framing, credits, registered buffers, placement — is measured against the link it runs
/// on, in one direction, at the same message size. The sender keeps at most `window` chunks
/// unacknowledged (perftest's tx depth); the receiver places every payload in one buffer, as the
/// worker places results, and acknowledges every `window / 2` chunks with a heartbeat.
public enum FrameStream {
    public struct Result: Sendable, Codable, Equatable {
        public var messageBytes: Int
        public var messages: Int
        public var seconds: Double
        public var bytesPerSecond: Double { seconds > 0 ? Double(messageBytes * messages) / seconds : 0 }
    }

    public enum StreamError: Error, CustomStringConvertible {
        case unexpected(peer: String, String)
        case ended(peer: String, received: Int, expected: Int)

        public var description: String {
            switch self {
            case .unexpected(let peer, let what): "stream with \(peer): unexpected \(what)"
            case .ended(let peer, let received, let expected):
                "stream with \(peer) ended after \(received) of \(expected) chunks"
            }
        }
    }

    /// The receiving side of one stream on `connection`: returns the number of chunks and bytes
    /// received once the last one (`chunkIndex == chunkCount - 1`) arrived and was acknowledged.
    public static func receive(on connection: any FrameConnection) async throws -> (messages: Int, bytes: Int) {
        let sink = PlacementSink()
        connection.setPlacement { header in sink.address(for: Int(header.payloadLength)) }
        defer { connection.setPlacement(nil) }
        var received = 0
        var bytes = 0
        // A link benchmark has no job to protect: take full-size frames at once, then say so, so the
        // sender's first chunk cannot meet the limits of a peer still to authenticate.
        connection.authenticated()
        connection.send(.control(.heartbeat(Heartbeat(sequence: 0))))
        for try await frame in connection.inbound {
            guard case .chunk(let header, let payload) = frame else {
                throw StreamError.unexpected(peer: connection.peer, "control frame \(frame)")
            }
            received += 1
            bytes += payload.isEmpty ? Int(header.payloadLength) : payload.count
            let last = header.chunkIndex + 1 == header.chunkCount
            let every = max(1, Int(header.root))
            if last || received % every == 0 {
                connection.send(.control(.heartbeat(Heartbeat(sequence: UInt64(received)))))
            }
            if last {
                guard received == Int(header.chunkCount) else {
                    throw StreamError.ended(peer: connection.peer, received: received, expected: Int(header.chunkCount))
                }
                return (received, bytes)
            }
        }
        throw StreamError.ended(peer: connection.peer, received: received, expected: -1)
    }

    /// Sends `messages` chunks of `messageBytes` on `connection`, at most `window` unacknowledged,
    /// and times from the first send to the acknowledgement of the last. With `register`, the
    /// payload buffer is registered with the transport first (zero-copy sends over RDMA), as an
    /// application registers its buffers once.
    public static func send(on connection: any FrameConnection, messageBytes: Int, messages: Int,
                            window: Int, register: Bool = true) async throws -> Result {
        precondition(messages > 0 && window >= 2 && messageBytes > 0 && messageBytes % 4 == 0)
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: messageBytes, alignment: 4096)
        buffer.initializeMemory(as: UInt8.self, repeating: 0xA5)
        let payload = UnsafeRawBufferPointer(buffer)
        let registered = register ? try connection.register(payload) : false
        defer {
            if registered { connection.deregister(payload) }
            buffer.deallocate()
        }
        let ackEvery = window / 2
        func header(_ index: Int) -> ChunkHeader {
            // `root` carries how often the receiver acknowledges (the stream has no other use for it).
            ChunkHeader(job: 0, origin: 0, opSeq: 0, totalCount: UInt64(messages * messageBytes / 4),
                        elementOffset: UInt64(index * messageBytes / 4), chunkIndex: UInt32(index),
                        chunkCount: UInt32(messages), elementCount: UInt32(messageBytes / 4), collective: .allreduce,
                        dtype: .f32, op: .sum, flags: [], root: UInt32(ackEvery), payloadLength: UInt32(messageBytes))
        }
        var acknowledged = 0
        var sent = 0
        var inbound = connection.inbound.makeAsyncIterator()
        connection.authenticated()
        guard case .control(.heartbeat(let ready))? = try await inbound.next(), ready.sequence == 0 else {
            throw StreamError.unexpected(peer: connection.peer, "start of stream (no ready heartbeat)")
        }
        let start = ContinuousClock.now
        while acknowledged < messages {
            while sent < messages && sent - acknowledged < window {
                connection.sendChunk(header(sent), payload: payload)
                sent += 1
            }
            guard let frame = try await inbound.next() else {
                throw StreamError.ended(peer: connection.peer, received: acknowledged, expected: messages)
            }
            guard case .control(.heartbeat(let beat)) = frame else {
                throw StreamError.unexpected(peer: connection.peer, "frame \(frame)")
            }
            acknowledged = Int(beat.sequence)
        }
        try await connection.waitForSends()
        return Result(messageBytes: messageBytes, messages: messages,
                      seconds: (ContinuousClock.now - start).inSeconds)
    }
}

/// One reusable destination for placed payloads (grown when a larger one arrives).
private final class PlacementSink: @unchecked Sendable {
    private let lock = NSLock()
    private var buffer = UnsafeMutableRawBufferPointer(start: nil, count: 0)

    func address(for bytes: Int) -> UnsafeMutableRawPointer? {
        lock.withLock {
            if buffer.count < bytes {
                buffer.deallocate()
                buffer = .allocate(byteCount: bytes, alignment: 64)
            }
            return buffer.baseAddress
        }
    }

    deinit { buffer.deallocate() }
}
