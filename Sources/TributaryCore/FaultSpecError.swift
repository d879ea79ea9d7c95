/// Why a `--faults SPEC` was refused. Positions are 1-based character columns in the SPEC, so a
/// long spec's mistake can be found; every case names the token it could not take.
public enum FaultSpecError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The SPEC holds nothing (or only separators).
    case empty
    /// Two `;` with nothing between them.
    case emptyItem(position: Int)
    /// Not one of kill, hang, drop, delay, corrupt, slow (nor `seed=`).
    case unknownKind(String, position: Int)
    /// The fault names no target, or one that cannot be (`kill:rank=3`, `slow:leaf0`, a name with a space).
    case badTarget(String, kind: String, position: Int, reason: String)
    /// A parameter that is not `key=value`.
    case badParameter(String, position: Int)
    /// A key this kind of fault does not take.
    case unknownParameter(String, kind: String, position: Int, allowed: [String])
    case duplicateParameter(String, position: Int)
    /// A value that does not parse or is out of range (`ms=0`, `frames=2`, `op=0`).
    case badValue(parameter: String, value: String, position: Int, expected: String)
    /// A parameter the kind needs (`ms=` for delay and slow).
    case missingParameter(String, kind: String, position: Int)
    case duplicateSeed(position: Int)
    case tooManyFaults(count: Int, limit: Int)
    /// Against a topology (`FaultPlan.validate`): a name that is no node of it.
    case unknownNode(String, fault: String, topology: String)
    /// A kill or hang naming a switch no aggregator runs for in this run (it would never fire).
    case noAggregator(String, fault: String, running: [String])
    /// A `-` name that is neither a node nor two nodes, or could be split into two nodes in several ways.
    case ambiguousLink(String, fault: String, splits: [String])
    /// `slow:rank=R` beyond the ranks of this run.
    case noSuchRank(Int, fault: String, worldSize: Int)

    public var description: String {
        switch self {
        case .empty:
            return "--faults: the SPEC is empty (e.g. `kill:leaf0@op=3;seed=7`)"
        case .emptyItem(let p):
            return "--faults: position \(p): an empty fault between two `;`"
        case .unknownKind(let t, let p):
            return "--faults: position \(p): unknown fault `\(t)` (kill, hang, drop, delay, corrupt, slow, or seed=N)"
        case .badTarget(let t, let k, let p, let why):
            return "--faults: position \(p): `\(t)` is not a target for \(k): \(why)"
        case .badParameter(let t, let p):
            return "--faults: position \(p): `\(t)` is not a KEY=VALUE parameter"
        case .unknownParameter(let t, let k, let p, let allowed):
            return "--faults: position \(p): \(k) takes no parameter `\(t)` (it takes \(allowed.joined(separator: ", ")))"
        case .duplicateParameter(let t, let p):
            return "--faults: position \(p): parameter `\(t)` given twice"
        case .badValue(let name, let value, let p, let expected):
            return "--faults: position \(p): \(name)=\(value): expected \(expected)"
        case .missingParameter(let name, let k, let p):
            return "--faults: position \(p): \(k) needs \(name)="
        case .duplicateSeed(let p):
            return "--faults: position \(p): seed given twice"
        case .tooManyFaults(let n, let limit):
            return "--faults: \(n) faults; at most \(limit) in one SPEC"
        case .unknownNode(let name, let fault, let topology):
            return "--faults: `\(fault)`: \(name) is no switch, host or link of topology \(topology)"
        case .noAggregator(let name, let fault, let running):
            return "--faults: `\(fault)`: no aggregator runs for \(name) here, so it would never fire "
                + "(aggregators: \(running.joined(separator: ", ")))"
        case .ambiguousLink(let name, let fault, let splits):
            return splits.isEmpty
                ? "--faults: `\(fault)`: \(name) is neither a node nor two nodes joined by `-`"
                : "--faults: `\(fault)`: \(name) splits into nodes in several ways (\(splits.joined(separator: ", ")))"
        case .noSuchRank(let r, let fault, let size):
            return "--faults: `\(fault)`: rank \(r) is beyond this run's \(size) ranks"
        }
    }
}
