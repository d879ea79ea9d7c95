import Foundation
import TributaryCore

/// The operation a rank is in, as its heartbeat reports it. Written by the operation as it runs
/// and read by the heartbeat task, so it is locked; the lock is held for a few stores only.
final class OperationProgress: @unchecked Sendable {
    private let lock = NSLock()
    private var current: (opSeq: UInt64, collective: Collective, started: ContinuousClock.Instant, chunks: Int,
                          sent: Int, received: Int, waitingFor: String)?

    func begin(opSeq: UInt64, collective: Collective, chunks: Int, waitingFor: String) {
        lock.withLock { current = (opSeq, collective, .now, chunks, 0, 0, waitingFor) }
    }

    func sent() { lock.withLock { current?.sent += 1 } }
    func received() { lock.withLock { current?.received += 1 } }
    func end() { lock.withLock { current = nil } }

    /// The heartbeat's view: nil between operations.
    func snapshot() -> WorkerStatus.Progress? {
        lock.withLock {
            current.map {
                WorkerStatus.Progress(opSeq: $0.opSeq, collective: $0.collective, seconds: (.now - $0.started).inSeconds,
                                      chunks: $0.chunks, chunksSent: $0.sent, resultsReceived: $0.received,
                                      waitingFor: $0.waitingFor)
            }
        }
    }
}
