import Foundation
import TributaryCore

/// Frames for one connection that each leave after their own delay, in the order they were given
/// (a slow link, as `delay:` faults make one: never a reordering one), sent from a task of the
/// line's own so the caller — an aggregator's actor serving other jobs — never waits. Once a link
/// has a line, every frame for it should go through the line (delay zero for the rest), or a
/// frame sent directly would overtake the ones held back.
public final class FrameDelayLine: @unchecked Sendable {
    private let lock = NSLock()
    private var lastRelease = ContinuousClock.now
    private let queue: AsyncStream<(ContinuousClock.Instant, Frame)>.Continuation
    private let sender: Task<Void, Never>

    public init(_ connection: any FrameConnection) {
        let (stream, continuation) = AsyncStream<(ContinuousClock.Instant, Frame)>.makeStream()
        queue = continuation
        sender = Task {
            for await (release, frame) in stream {
                if release > .now { try? await Task.sleep(until: release, clock: .continuous) }
                if Task.isCancelled { break }
                connection.send(frame)
            }
        }
    }

    deinit {
        queue.finish()
    }

    /// Queues `frame` to leave `delay` from now, and not before any frame queued earlier.
    public func send(_ frame: Frame, after delay: Duration) {
        let release = lock.withLock {
            lastRelease = max(lastRelease, .now + delay)
            return lastRelease
        }
        queue.yield((release, frame))
    }

    /// Frames still held are sent at their time; then the line's task ends.
    public func finish() {
        queue.finish()
    }

    /// Drops the frames still held (their connection is gone) and ends the line's task.
    public func cancel() {
        queue.finish()
        sender.cancel()
    }
}
