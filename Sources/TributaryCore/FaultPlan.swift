/// Faults to inject into a run, from a `--faults SPEC` (`FaultPlan.parse`): which switch dies or
/// hangs and when, which link loses, delays or corrupts frames, which rank dawdles. Every decision
/// the plan makes (`FaultPlan+Decisions`) is a pure function of the seed and of what the frame or
/// contribution is — never of timing or arrival order — so one SPEC replays the same faults in
/// every run and in every process that reads it (each child gets the same text and applies the
/// parts naming it).
public struct FaultPlan: Sendable, Equatable, CustomStringConvertible {
    /// Drives every seeded choice (which frames of a fraction, which byte of a payload).
    public var seed: UInt64
    public var faults: [Fault]

    public static let defaultSeed: UInt64 = 1
    /// More than this in one SPEC is refused: a plan is for a test or a demonstration, not a list.
    public static let maxFaults = 64

    public init(seed: UInt64 = FaultPlan.defaultSeed, faults: [Fault]) {
        self.seed = seed
        self.faults = faults
    }

    public var isEmpty: Bool { faults.isEmpty }

    /// `faults (seed 1): kill leaf0 at op 3; delay every frame on leaf1-spine0 by 5 ms`: printed by
    /// launch, bench and serve before anything starts, so a run's log says what was done to it.
    public var description: String {
        "faults (seed \(seed)): " + (faults.isEmpty ? "none" : faults.map(\.description).joined(separator: "; "))
    }

    /// The canonical SPEC text of this plan: `FaultPlan.parse(plan.spec) == plan`. What a parent hands
    /// its children, so a plan it changed (a restarted switch's kill removed) travels as text too.
    public var spec: String {
        (["seed=\(seed)"] + faults.map(\.spec)).joined(separator: ";")
    }

    /// The plan without the kills and hangs of switch `name`: what `serve` gives an aggregator it
    /// restarts, so a fault that killed a switch once does not kill every incarnation of it.
    public func withoutProcessFaults(on name: String) -> FaultPlan {
        FaultPlan(seed: seed, faults: faults.filter { !($0.kind.stopsProcess && $0.target == .named(name)) })
    }
}

/// One fault: what happens (`kind`), to what (`target`), and to which operations, chunks and jobs.
public struct Fault: Sendable, Equatable, CustomStringConvertible {
    public enum Kind: Sendable, Equatable {
        /// The switch's aggregator process dies at once (SIGKILL): no goodbye on any connection.
        case kill
        /// The switch's aggregator process stops (SIGSTOP): connections stay open, nothing moves.
        case hang
        /// Chunk frames are not sent.
        case drop
        /// Chunk frames leave this much later (in order: a slow link, not a reordering one).
        case delay(milliseconds: Int)
        /// One seeded byte of the payload is flipped (in a copy; the sender's memory is untouched).
        case corrupt
        /// The rank sleeps this long before each operation it runs (a straggler).
        case slow(milliseconds: Int)

        /// Whether the fault ends or stops a switch's process, rather than touching frames or ranks.
        public var stopsProcess: Bool {
            switch self {
            case .kill, .hang: return true
            default: return false
            }
        }

        /// Whether the fault acts on chunk frames a node sends.
        public var touchesFrames: Bool {
            switch self {
            case .drop, .delay, .corrupt: return true
            default: return false
            }
        }

        var word: String {
            switch self {
            case .kill: return "kill"
            case .hang: return "hang"
            case .drop: return "drop"
            case .delay: return "delay"
            case .corrupt: return "corrupt"
            case .slow: return "slow"
            }
        }
    }

    public enum Target: Sendable, Equatable, Hashable {
        /// A topology node (`leaf0`: the frames it sends, or its process) or a link written as its two
        /// ends joined by `-` (`h2-leaf0`: frames either end sends to the other). Names may contain
        /// `-` themselves (`edge-p0-0`), so which one it is is settled against a topology
        /// (`FaultPlan.validate`); matching a frame needs no topology (`matches(from:to:)`).
        case named(String)
        /// A worker rank (`rank=5`).
        case rank(Int)

        /// Whether a frame `from` → `to` is on this target: sent by the node, or on the link.
        public func matches(from: String, to: String) -> Bool {
            guard case .named(let text) = self else { return false }
            return text == from || text == "\(from)-\(to)" || text == "\(to)-\(from)"
        }

        /// Whether node `name` is this target or one end of it (it then has something to inject).
        public func involves(_ name: String) -> Bool {
            guard case .named(let text) = self else { return false }
            return text == name || text.hasPrefix(name + "-") || text.hasSuffix("-" + name)
        }

        var spec: String {
            switch self {
            case .named(let text): return text
            case .rank(let r): return "rank=\(r)"
            }
        }
    }

    public var kind: Kind
    public var target: Target
    /// Only this operation (sequence number within its job, 1, 2, …); nil: any.
    public var opSeq: UInt64?
    /// Only this chunk index of an operation; nil: any.
    public var chunk: UInt32?
    /// Of the frames that match, the fraction the fault hits (seeded per frame); 1: every one.
    public var fraction: Double
    /// Only the job of this name; nil: any job.
    public var job: String?

    public init(kind: Kind, target: Target, opSeq: UInt64? = nil, chunk: UInt32? = nil, fraction: Double = 1,
                job: String? = nil) {
        self.kind = kind
        self.target = target
        self.opSeq = opSeq
        self.chunk = chunk
        self.fraction = fraction
        self.job = job
    }

    /// Where in a job the fault strikes, in words (`op 3 chunk 2`), or nil when anywhere.
    var when: String? {
        switch (opSeq, chunk) {
        case (nil, nil): return nil
        case (let op?, nil): return "op \(op)"
        case (nil, let c?): return "chunk \(c)"
        case (let op?, let c?): return "op \(op) chunk \(c)"
        }
    }

    private var share: String {
        fraction >= 1 ? "every frame" : "\(FaultPlan.percent(fraction)) of frames"
    }

    public var description: String {
        let at = when.map { " at \($0)" } ?? ""
        let of = job.map { " of job \($0)" } ?? ""
        let target = self.target.spec
        switch kind {
        case .kill, .hang:
            return "\(kind.word) \(target) at \(when ?? "its first chunk")\(of)"
        case .drop:
            return "drop \(share) on \(target)\(at)\(of)"
        case .delay(let ms):
            return "delay \(share) on \(target) by \(ms) ms\(at)\(of)"
        case .corrupt:
            return "corrupt a payload byte of \(share) on \(target)\(at)\(of)"
        case .slow(let ms):
            let rank = if case .rank(let r) = self.target { "rank \(r)" } else { target }
            return "slow \(rank) by \(ms) ms before \(opSeq.map { "op \($0)" } ?? "every operation")\(of)"
        }
    }

    var spec: String {
        var parameters: [String] = []
        switch kind {
        case .delay(let ms), .slow(let ms): parameters.append("ms=\(ms)")
        default: break
        }
        if let opSeq { parameters.append("op=\(opSeq)") }
        if let chunk { parameters.append("chunk=\(chunk)") }
        if fraction < 1 { parameters.append("frames=\(fraction)") }
        if let job { parameters.append("job=\(job)") }
        return "\(kind.word):\(target.spec)" + (parameters.isEmpty ? "" : "@" + parameters.joined(separator: ","))
    }
}

extension FaultPlan {
    /// `0.01` → `1%`, `0.005` → `0.5%`: fractions as people write them (to four decimals, so binary
    /// fractions do not print as 0.30000000000000004%).
    static func percent(_ fraction: Double) -> String {
        let value = (fraction * 100 * 10_000).rounded() / 10_000
        return value == value.rounded() ? "\(Int(value))%" : "\(value)%"
    }
}
