import TributaryCore
import Transport

/// Why a collective failed at a worker, naming the peer, rank or chunk concerned.
public enum WorkerError: Error, CustomStringConvertible {
    /// The fabric (an aggregator or the coordinator) reported a failure of this job.
    case remote(ErrorReport)
    case coordinatorLost(String)
    case leafLost(leaf: String, reason: String)
    /// No progress before the deadline; says which result chunks never came.
    case timeout(String)
    case invalidArgument(String)
    case protocolViolation(String)
    case unexpectedReply(String)

    public var description: String {
        switch self {
        case .remote(let r): return "\(r)"
        case .coordinatorLost(let s): return "coordinator lost: \(s)"
        case .leafLost(let leaf, let reason): return "connection to aggregator \(leaf) lost: \(reason)"
        case .timeout(let s): return "timeout: \(s)"
        case .invalidArgument(let s): return "invalid argument: \(s)"
        case .protocolViolation(let s): return "protocol violation: \(s)"
        case .unexpectedReply(let s): return "unexpected reply: \(s)"
        }
    }

    /// The caller's mistake (bad count, buffer, root), not the fabric's.
    public var isArgumentError: Bool {
        if case .invalidArgument = self { return true }
        return false
    }

    /// The ranks the failure names, if any (mismatch culprits, missing ranks).
    public var ranks: [Int] {
        if case .remote(let r) = self { return r.ranks }
        return []
    }
}
