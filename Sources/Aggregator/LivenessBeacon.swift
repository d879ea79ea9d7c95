import Foundation
import Transport
import TributaryCore

/// Sends a `heartbeat` to the coordinator every `interval` from a thread of its own, apart from
/// the daemon's actor and the cooperative pool: a switch busy folding is still heard, and only a
/// process that is stopped (SIGSTOP, a hang) or gone falls silent — what the coordinator's hang
/// detection judges (`CoordinatorConfiguration.switchSilence`).
final class LivenessBeacon: @unchecked Sendable {
    static let interval: TimeInterval = 0.25
    private let connection: any FrameConnection
    private let lock = NSLock()
    private var stopped = false

    init(connection: any FrameConnection) {
        self.connection = connection
    }

    func start() {
        let thread = Thread { [self] in
            var sequence: UInt64 = 0
            while !lock.withLock({ stopped }) {
                sequence &+= 1
                connection.send(.control(.heartbeat(Heartbeat(sequence: sequence))))
                Thread.sleep(forTimeInterval: Self.interval)
            }
        }
        thread.name = "tributary-liveness"
        thread.start()
    }

    /// The thread ends within one interval.
    func stop() { lock.withLock { stopped = true } }
}
