import Foundation

/// Writes a recorder's file every `interval` while it has unwritten events, so a process killed
/// without warning (SIGKILL after the grace period) still leaves its trace up to the last write.
public final class PeriodicFlush: @unchecked Sendable {
    private let timer: DispatchSourceTimer
    private let lock = NSLock()
    private var lastFailure: String?

    /// `onFailure` hears a failed write once, not on every tick while it keeps failing the same way.
    public init(_ recorder: TraceRecorder, every interval: Duration,
                onFailure: @escaping @Sendable (TraceError) -> Void) {
        timer = DispatchSource.makeTimerSource(queue: DispatchQueue(label: "tributary.trace.flush"))
        let nanoseconds = Int(interval.components.seconds) * 1_000_000_000
            + Int(interval.components.attoseconds / 1_000_000_000)
        timer.schedule(deadline: .now() + .nanoseconds(nanoseconds), repeating: .nanoseconds(nanoseconds))
        timer.setEventHandler { [weak self] in
            guard let self, recorder.hasUnwrittenEvents else { return }
            do throws(TraceError) {
                try recorder.flush()
                lock.withLock { lastFailure = nil }
            } catch {
                let repeated = lock.withLock { () -> Bool in
                    defer { lastFailure = error.description }
                    return lastFailure == error.description
                }
                if !repeated { onFailure(error) }
            }
        }
        timer.resume()
    }

    /// No more writes from the timer (the caller writes the last one itself).
    public func stop() {
        timer.cancel()
    }

    deinit { timer.cancel() }
}
