import Foundation
import TributaryCore

/// Delay and jitter of the emulated path to one peer, for kernels without `netem`.
public struct LinkDelay: Sendable, Equatable, Codable {
    /// One-way latency in seconds.
    public var latency: Double
    /// Jitter in seconds: each frame's delay is latency ± jitter (uniform, seeded).
    public var jitter: Double
    /// Packet loss fraction. Frames ride on TCP, which never loses them, so loss shows as what TCP
    /// makes of it: a frame with a lost packet arrives one retransmission (a round trip) later.
    public var loss: Double

    public init(latency: Double, jitter: Double, loss: Double = 0) {
        self.latency = latency
        self.jitter = jitter
        self.loss = loss
    }
}

/// A transport that delays every frame it sends by the path's latency and a seeded, deterministic
/// jitter, keeping frames in order (as TCP delivers them): `netem`'s delay and jitter, done in
/// Tributary's own data path where the kernel has no `netem`. Bandwidth is not limited here
/// (`tc` does that); frames are pipelined, so a long link stays full when the window is large
/// enough — which is exactly what distance-aware flow control must achieve.
public final class LinkEmulatedTransport: FrameTransport, @unchecked Sendable {
    public let base: any FrameTransport
    public var name: String { base.name }
    public var taskExecutor: (any TaskExecutor)? { base.taskExecutor }
    private let delayTo: @Sendable (String) -> LinkDelay?
    private let seed: UInt64
    private let counter = NSLock()
    private var connections: UInt64 = 0

    /// - Parameters:
    ///   - delayTo: the path delay to a peer, by its host address (nil: no delay).
    ///   - seed: makes the jitter sequence of every connection reproducible.
    public init(base: any FrameTransport, seed: UInt64, delayTo: @escaping @Sendable (String) -> LinkDelay?) {
        self.base = base
        self.seed = seed
        self.delayTo = delayTo
    }

    private func nextSeed() -> UInt64 {
        counter.withLock {
            connections += 1
            return seed &+ connections &* 0x9E37_79B9_7F4A_7C15
        }
    }

    public func listen(on endpoint: Endpoint) async throws -> any FrameListener {
        let listener = try await base.listen(on: endpoint)
        return EmulatedListener(base: listener) { [self] connection in wrap(connection) }
    }

    public func connect(to endpoint: Endpoint) async throws -> any FrameConnection {
        let connection = try await base.connect(to: endpoint)
        if let delay = delayTo(endpoint.host), delay.latency > 0 || delay.jitter > 0 || delay.loss > 0 {
            return DelayedConnection(base: connection, delay: delay, seed: nextSeed())
        }
        return connection
    }

    private func wrap(_ connection: any FrameConnection) -> any FrameConnection {
        let host = String(connection.peer.split(separator: ":").first ?? "")
        if let delay = delayTo(host), delay.latency > 0 || delay.jitter > 0 || delay.loss > 0 {
            return DelayedConnection(base: connection, delay: delay, seed: nextSeed())
        }
        return connection
    }
}

final class EmulatedListener: FrameListener, @unchecked Sendable {
    let base: any FrameListener
    let connections: AsyncStream<any FrameConnection>
    private let pump: Task<Void, Never>

    init(base: any FrameListener, wrap: @escaping @Sendable (any FrameConnection) -> any FrameConnection) {
        self.base = base
        let (stream, continuation) = AsyncStream<any FrameConnection>.makeStream()
        connections = stream
        pump = Task {
            for await connection in base.connections { continuation.yield(wrap(connection)) }
            continuation.finish()
        }
    }

    var endpoint: Endpoint { base.endpoint }

    func close() async {
        await base.close()
        pump.cancel()
    }
}

/// Holds each outgoing frame until its release time, in order.
final class DelayedConnection: FrameConnection, @unchecked Sendable {
    let base: any FrameConnection
    var peer: String { base.peer }
    var inbound: AsyncThrowingStream<Frame, Error> { base.inbound }
    private let delay: LinkDelay
    private let lock = NSLock()
    private var rng: SplitMix64
    private var lastRelease = ContinuousClock.now
    private let queue: AsyncStream<(ContinuousClock.Instant, Frame)>.Continuation
    private let sender: Task<Void, Never>

    init(base: any FrameConnection, delay: LinkDelay, seed: UInt64) {
        self.base = base
        self.delay = delay
        self.rng = SplitMix64(seed: seed)
        let (stream, continuation) = AsyncStream<(ContinuousClock.Instant, Frame)>.makeStream()
        queue = continuation
        sender = Task {
            for await (release, frame) in stream {
                let now = ContinuousClock.now
                if release > now { try? await Task.sleep(until: release, clock: .continuous) }
                base.send(frame)
            }
        }
    }

    deinit { sender.cancel() }

    /// A uniform draw in [0, 1) from a splitmix64 sequence (seeded, so a run can be replayed).
    private func draw() -> Double {
        Double(rng.next() >> 11) / Double(1 << 53)
    }

    /// latency ± jitter, plus a retransmission round trip when one of the frame's packets is lost;
    /// never earlier than the previous frame.
    private func releaseTime(bytes: Int) -> ContinuousClock.Instant {
        lock.withLock {
            var seconds = max(0, delay.latency + delay.jitter * (draw() * 2 - 1))
            if delay.loss > 0 {
                let packets = Double(max(1, bytes / 1448))
                if draw() < 1 - pow(1 - delay.loss, packets) { seconds += 2 * delay.latency + 0.0002 }
            }
            let candidate = ContinuousClock.now + .nanoseconds(Int64(seconds * 1e9))
            lastRelease = max(lastRelease, candidate)
            return lastRelease
        }
    }

    func send(_ frame: Frame) {
        var bytes = 64
        if case .chunk(_, let payload) = frame { bytes += payload.count }
        queue.yield((releaseTime(bytes: bytes), frame))
    }

    func sendChunk(_ header: ChunkHeader, payload: UnsafeRawBufferPointer) {
        // The caller may reuse its memory at once; the frame waits, so it keeps a copy.
        send(.chunk(header, payload: Array(payload)))
    }

    func send(_ frame: SharedFrame) { send(frame.frame) }

    func authenticated() { base.authenticated() }

    func sendAndWait(_ frame: Frame) async throws {
        send(frame)
        try await Task.sleep(until: lock.withLock { lastRelease }, clock: .continuous)
    }

    func close() {
        queue.finish()
        Task { [sender, base] in
            _ = await sender.value
            base.close()
        }
    }
}
