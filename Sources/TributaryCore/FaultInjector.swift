import Foundation

/// The `FaultHook` a process runs with: the plan's decisions, each kill or hang fired once, and
/// what firing one means left to the owner (`act`): the CLI ends or stops its own process, a test
/// records it. Once matters: every child's contribution to the chunk matches a kill, and a hung
/// switch that is continued (SIGCONT, to be stopped cleanly) must not hang again at the next child.
public final class FaultInjector: FaultHook, @unchecked Sendable {
    public let plan: FaultPlan
    private let act: @Sendable (ProcessFault, String) -> Void
    private let lock = NSLock()
    private var fired: Set<Int> = []

    /// - Parameter act: what to do when a kill or hang strikes, with the fault in words (for the log).
    public init(plan: FaultPlan, act: @escaping @Sendable (ProcessFault, String) -> Void) {
        self.plan = plan
        self.act = act
    }

    public func contributionArrived(at switchName: String, job: String, opSeq: UInt64, chunk: UInt32) {
        let strikes = plan.processFaults(at: switchName, job: job, opSeq: opSeq, chunk: chunk)
        guard !strikes.isEmpty else { return }
        let due = lock.withLock { strikes.filter { fired.insert($0.index).inserted } }
        for strike in due {
            act(strike.fault, "\(plan.faults[strike.index]) (job \(job) op \(opSeq) chunk \(chunk))")
        }
    }

    public func frameFault(from: String, to: String, job: String, opSeq: UInt64, chunk: UInt32, payloadBytes: Int)
        -> FrameFault {
        plan.frameFault(from: from, to: to, job: job, opSeq: opSeq, chunk: chunk, payloadBytes: payloadBytes)
    }

    public func operationDelay(rank: Int, job: String, opSeq: UInt64) -> Duration? {
        plan.operationDelay(rank: rank, job: job, opSeq: opSeq)
    }
}
