import Foundation

/// Writes a recorder's file every `interval` while it has unwritten events, so a process killed
/// without warning (SIGKILL after the grace period) still leaves its trace up to the last write.
/// Each write rewrites the whole file: after one that took `t`, the next waits at least
/// `t × costFactor`, so a large trace costs a bounded share of a core (1/50) however long the run.
public final class PeriodicFlush: @unchecked Sendable {
    public static let costFactor: UInt64 = 50

    private let timer: DispatchSourceTimer
    private let lock = NSLock()
    private var lastFailure: String?
    /// No write from the timer before this (DispatchTime nanoseconds).
    private var notBefore: UInt64 = 0

    /// `onFailure` hears a failed write once, not on every tick while it keeps failing the same way.
    public init(_ recorder: TraceRecorder, every interval: Duration,
                onFailure: @escaping @Sendable (TraceError) -> Void) {
        timer = DispatchSource.makeTimerSource(queue: DispatchQueue(label: "tributary.trace.flush"))
        let nanoseconds = Int(interval.components.seconds) * 1_000_000_000
            + Int(interval.components.attoseconds / 1_000_000_000)
        timer.schedule(deadline: .now() + .nanoseconds(nanoseconds), repeating: .nanoseconds(nanoseconds))
        timer.setEventHandler { [weak self] in
            guard let self, recorder.hasUnwrittenEvents else { return }
            let start = DispatchTime.now().uptimeNanoseconds
            guard start >= lock.withLock({ notBefore }) else { return }
            do throws(TraceError) {
                try recorder.flush()
                let took = DispatchTime.now().uptimeNanoseconds - start
                lock.withLock {
                    lastFailure = nil
                    notBefore = start + took * Self.costFactor
                }
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
