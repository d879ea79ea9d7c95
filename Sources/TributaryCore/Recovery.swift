/// The messages of a job's recovery after a switch of its tree is lost (docs/RELIABILITY.md):
///
/// 1. coordinator → every rank: `recoveryQuery` (the job's new epoch and why);
/// 2. rank → coordinator: `recoveryState` (which chunks of its operation it holds);
/// 3. coordinator → holders: `fetchChunks`; holders → coordinator: `chunkData`, one chunk each;
/// 4. coordinator → ranks lacking them: `chunkData`, one chunk each, then `recoveryResume` to
///    every rank (its place in the new tree, the chunks to compute again).
///
/// A rank stops using its old leaf when the query comes, so what it reports is what it keeps.

/// Coordinator → worker: a switch of the job's tree is lost; stop, and say what you hold.
public struct RecoveryQuery: Sendable, Codable, Equatable {
    public var job: UInt32
    /// Counts the job's trees: answers and resumes of an earlier epoch are ignored.
    public var epoch: Int
    /// Why, e.g. `aggregator leaf0 lost: closed the connection`.
    public var reason: String
    /// The switches lost: a rank whose leaf is one of them stops waiting for it at once.
    public var lost: [String]
    public init(job: UInt32, epoch: Int, reason: String, lost: [String] = []) {
        self.lost = lost
        self.job = job
        self.epoch = epoch
        self.reason = reason
    }
}

/// Worker → coordinator: where this rank stands.
public struct RecoveryState: Sendable, Codable, Equatable {
    public var job: UInt32
    public var rank: Int
    public var epoch: Int
    /// The last operation this rank started (0: none).
    public var opSeq: UInt64
    /// Whether `opSeq` has finished at this rank.
    public var finished: Bool
    /// With `finished` false: the chunks of `opSeq` whose result this rank holds.
    public var held: [Int]
    /// Chunks of operation `opSeq` in all (with `finished` false).
    public var chunkCount: Int
    /// The collective and root of `opSeq` (which ranks hold result data).
    public var collective: Collective
    public var root: Int
    /// The last in-network operation this rank finished, and the chunks of it whose bytes it still
    /// keeps (its last window's worth): what a rank that has moved on can give to one that has not.
    public var retainedOp: UInt64
    public var retained: [Int]
    /// Chunks of `opSeq` whose input this rank no longer has: the operation runs in place and a
    /// result was cut off half placed when the old leaf's connection ended.
    public var damaged: [Int]
    /// Elements per chunk of `opSeq`: which ranks receive a reduce-scatter chunk's data depends on
    /// where the chunk lies (0 for the other collectives, where it does not).
    public var chunkElements: Int
    public init(job: UInt32, rank: Int, epoch: Int, opSeq: UInt64, finished: Bool, held: [Int], chunkCount: Int,
                collective: Collective, root: Int, retainedOp: UInt64, retained: [Int], damaged: [Int] = [],
                chunkElements: Int = 0) {
        self.damaged = damaged
        self.chunkElements = chunkElements
        self.job = job
        self.rank = rank
        self.epoch = epoch
        self.opSeq = opSeq
        self.finished = finished
        self.held = held
        self.chunkCount = chunkCount
        self.collective = collective
        self.root = root
        self.retainedOp = retainedOp
        self.retained = retained
    }
}

/// Coordinator → worker: go on in the new tree.
public struct RecoveryResume: Sendable, Codable, Equatable {
    public var job: UInt32
    public var epoch: Int
    /// This rank's place in the new tree (or the host-ring fallback, with its reason).
    public var assignment: WorkerAssignment
    /// The interrupted operation: ranks still in it complete it; ranks past it start theirs again.
    public var opSeq: UInt64
    /// Chunks of `opSeq` to send again through the new tree (nobody holds their result).
    public var recompute: [Int]
    /// Chunks of `opSeq` whose result comes to this rank as `chunkData` before this message.
    public var shared: [Int]
    /// What every retried operation's report says.
    public var reason: String
    public init(job: UInt32, epoch: Int, assignment: WorkerAssignment, opSeq: UInt64, recompute: [Int], shared: [Int],
                reason: String) {
        self.job = job
        self.epoch = epoch
        self.assignment = assignment
        self.opSeq = opSeq
        self.recompute = recompute
        self.shared = shared
        self.reason = reason
    }
}

/// Which chunks of the interrupted operation each rank still needs and how it gets them: pure
/// logic over the ranks' `RecoveryState`s, apart from the coordinator that acts on it.
///
/// A chunk some rank holds was computed by the old tree: the ranks lacking it get those very
/// bytes (a new tree could fold in another order and give other bits). A chunk nobody holds is
/// computed again by the new tree; every rank's input for it is intact, because a rank overwrites
/// an input chunk (in place) only with its result. A rank that finished the operation has given
/// back its buffer: it can give only the chunks it retained.
public struct RecoveryPlan: Sendable, Equatable {
    /// The operation recovery is about (the earliest not finished at some rank); nil when every
    /// rank had finished its last operation (nothing to share, nothing to recompute).
    public var opSeq: UInt64?
    /// Chunks every rank sends again, in order.
    public var recompute: [Int] = []
    /// For each chunk some ranks lack: the rank whose bytes they get (nil: no bytes travel, the
    /// collective gives those ranks no data for it) and the ranks that lack it.
    public var shares: [Share] = []
    /// Chunks of `opSeq` computed by the old tree (held by some rank): what the replay folds in its order.
    public var decided: [Int] = []

    public struct Share: Sendable, Equatable {
        public var chunk: Int
        public var holder: Int?
        public var lacking: [Int]
        /// Those of `lacking` that receive result data (the holder's bytes go to them).
        public var needBytes: [Int]
        public init(chunk: Int, holder: Int?, lacking: [Int], needBytes: [Int]) {
            self.chunk = chunk
            self.holder = holder
            self.lacking = lacking
            self.needBytes = needBytes
        }
    }

    public enum Failure: Error, Equatable, CustomStringConvertible {
        /// A rank needs a result whose bytes no rank can give.
        case resultLost(opSeq: UInt64, chunk: Int, lacking: [Int])
        /// A chunk nobody holds must be computed again, but a rank's input for it was overwritten.
        case inputLost(opSeq: UInt64, chunk: Int, ranks: [Int])
        /// States that cannot be (ranks more than one operation apart, a chunk index out of range).
        case inconsistent(String)

        public var description: String {
            switch self {
            case .resultLost(let op, let chunk, let lacking):
                return "op #\(op) chunk \(chunk): rank \(RankList.format(lacking)) lacks its result, and the ranks "
                    + "that had it have returned from the operation: it cannot be retried"
            case .inputLost(let op, let chunk, let ranks):
                return "op #\(op) chunk \(chunk): no rank holds its result and rank \(RankList.format(ranks)) "
                    + "(in place) had its input overwritten by a result cut off mid-transfer: it cannot be retried"
            case .inconsistent(let why):
                return "ranks' recovery states disagree: \(why)"
            }
        }
    }

    /// The most chunks an interrupted operation may have (1 Mi: 256 GiB in 256 KiB chunks).
    public static let maxChunks = 1 << 20

    public static func make(states: [Int: RecoveryState], worldSize: Int) throws(Failure) -> RecoveryPlan {
        guard states.count == worldSize, (0..<worldSize).allSatisfy({ states[$0] != nil }) else {
            throw .inconsistent("\(states.count) of \(worldSize) ranks answered")
        }
        // The interrupted operation: the earliest one some rank has not finished.
        let pending = states.values.map { $0.finished ? $0.opSeq + 1 : $0.opSeq }
        let op = pending.min()!
        let inOp = states.values.filter { !$0.finished && $0.opSeq == op }.sorted { $0.rank < $1.rank }
        guard let reference = inOp.first, op > 0 else { return RecoveryPlan(opSeq: nil) }
        if let far = states.values.first(where: { ($0.finished ? $0.opSeq + 1 : $0.opSeq) > op + 1 }) {
            throw .inconsistent("rank \(far.rank) is at op #\(far.opSeq) while rank \(reference.rank) is in op #\(op)")
        }
        let chunks = reference.chunkCount
        // A count a rank merely declares sizes nothing here until it is known to be sane: the plan's
        // lists travel back in one control frame, which holds far fewer chunks than this.
        guard chunks > 0, chunks <= maxChunks else {
            throw .inconsistent("rank \(reference.rank) says op #\(op) has \(chunks) chunks (1...\(maxChunks) can be recovered)")
        }
        for s in inOp {
            guard s.chunkCount == chunks, s.collective == reference.collective, s.root == reference.root,
                  s.chunkElements == reference.chunkElements else {
                throw .inconsistent("rank \(s.rank) is in op #\(op) with \(s.chunkCount) chunks of \(s.collective), "
                                    + "rank \(reference.rank) with \(chunks) of \(reference.collective)")
            }
            if let bad = s.held.first(where: { $0 < 0 || $0 >= chunks }) {
                throw .inconsistent("rank \(s.rank) holds chunk \(bad) of \(chunks)")
            }
        }
        // Ranks that receive chunk k's data (all for allreduce, broadcast and all-gather, the root for
        // reduce, the ranks whose blocks it overlaps for reduce-scatter, none for a barrier).
        let collective = reference.collective
        if collective.isBlockwise {
            let per = reference.chunkElements
            guard per > 0, reference.root >= 0, reference.root <= Int(UInt32.max),
                  (reference.root * worldSize + per - 1) / per == chunks || (reference.root == 0 && chunks == 1) else {
                throw .inconsistent("rank \(reference.rank) says op #\(op) is a \(collective) of \(chunks) chunks of "
                                    + "\(per) elements over blocks of \(reference.root)")
            }
        }
        let geometry = ChunkGeometry(count: collective.isBlockwise ? reference.root * worldSize : 0,
                                     chunkElements: reference.chunkElements)
        func data(_ k: Int) -> Range<Int> {
            collective.receivers(of: geometry.range(ofChunk: k), root: reference.root, worldSize: worldSize)
        }
        // Who holds each chunk: ranks in the operation by what they received, ranks past it entirely.
        let pastIt = states.values.filter { !($0.opSeq == op && !$0.finished) }.map(\.rank).sorted()
        var holders = [[Int]](repeating: [], count: chunks)
        for s in inOp { for k in Set(s.held) { holders[k].append(s.rank) } }
        for rank in pastIt { for k in 0..<chunks { holders[k].append(rank) } }
        // Who can give a chunk's bytes: a data rank still in the operation, or one that retained it.
        func givers(_ k: Int) -> [Int] {
            holders[k].filter { rank in
                guard data(k).contains(rank), let s = states[rank] else { return false }
                if s.opSeq == op && !s.finished { return true }
                return s.retainedOp == op && s.retained.contains(k)
            }.sorted()
        }
        var plan = RecoveryPlan(opSeq: op)
        for k in 0..<chunks {
            let have = Set(holders[k])
            let lacking = inOp.map(\.rank).filter { !have.contains($0) }
            if have.isEmpty {
                let damaged = inOp.filter { $0.damaged.contains(k) }.map(\.rank)
                if !damaged.isEmpty { throw .inputLost(opSeq: op, chunk: k, ranks: damaged) }
                plan.recompute.append(k)
                continue
            }
            plan.decided.append(k)
            guard !lacking.isEmpty else { continue }
            let needBytes = lacking.filter { data(k).contains($0) }
            if needBytes.isEmpty {
                plan.shares.append(Share(chunk: k, holder: nil, lacking: lacking, needBytes: []))
            } else if let giver = givers(k).first {
                plan.shares.append(Share(chunk: k, holder: giver, lacking: lacking, needBytes: needBytes))
            } else if pastIt.isEmpty && !have.contains(where: { data(k).contains($0) }) {
                // Only acknowledgements arrived (a reduce whose root missed the result) and every
                // rank is still in the operation: each can send its input again.
                let damaged = inOp.filter { $0.damaged.contains(k) }.map(\.rank)
                if !damaged.isEmpty { throw .inputLost(opSeq: op, chunk: k, ranks: damaged) }
                plan.decided.removeLast()
                plan.recompute.append(k)
            } else {
                throw .resultLost(opSeq: op, chunk: k, lacking: needBytes)
            }
        }
        return plan
    }
}
