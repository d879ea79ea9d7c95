/// What the data path does to one chunk frame it is about to send, as a fault plan decided.
public struct FrameFault: Sendable, Equatable {
    /// The frame is not sent at all.
    public var drop = false
    /// The frame leaves this much later, behind every frame sent before it on the same link.
    public var delay: Duration = .zero
    /// The payload byte to flip and the bits to flip in it (never zero), in a copy of the payload.
    public var corruption: (offset: Int, mask: UInt8)?

    public init(drop: Bool = false, delay: Duration = .zero, corruption: (offset: Int, mask: UInt8)? = nil) {
        self.drop = drop
        self.delay = delay
        self.corruption = corruption
    }

    public static let none = FrameFault()

    public var isNone: Bool { !drop && delay == .zero && corruption == nil }

    /// `payload` with the corruption applied (the same bytes when there is none).
    public func corrupted(_ payload: [UInt8]) -> [UInt8] {
        guard let corruption, corruption.offset < payload.count else { return payload }
        var copy = payload
        copy[corruption.offset] ^= corruption.mask
        return copy
    }

    public static func == (a: FrameFault, b: FrameFault) -> Bool {
        a.drop == b.drop && a.delay == b.delay && a.corruption?.offset == b.corruption?.offset
            && a.corruption?.mask == b.corruption?.mask
    }
}

/// A fault that takes a whole process: what the process's owner (the CLI) does to itself.
public enum ProcessFault: Sendable, Equatable {
    /// End at once, as a switch that loses power: SIGKILL, no connection says goodbye.
    case kill
    /// Stop, as a wedged switch: SIGSTOP, connections stay open and nothing moves.
    case hang
}

/// Where faults enter the roles' data path. The aggregator and the worker call it at the points
/// a fault can strike; they hold it as an optional, so a run without faults pays one nil check per
/// chunk. It sits above the transport (it sees frames, not bytes on a wire), so TCP and RDMA get
/// the same faults. Implementations must be cheap and safe to call from any task.
public protocol FaultHook: Sendable {
    /// A child's contribution to chunk `chunk` of operation `opSeq` of job `job` reached switch
    /// `switchName`, before it is folded: where a switch is killed or hung.
    func contributionArrived(at switchName: String, job: String, opSeq: UInt64, chunk: UInt32)
    /// A chunk frame is about to leave node `from` for node `to` (topology names): drop, delay or
    /// corrupt it?
    func frameFault(from: String, to: String, job: String, opSeq: UInt64, chunk: UInt32, payloadBytes: Int)
        -> FrameFault
    /// Rank `rank` is about to run operation `opSeq`: how long it dawdles first (nil: not at all).
    func operationDelay(rank: Int, job: String, opSeq: UInt64) -> Duration?
}
