import Foundation

/// Control-plane messages (docs/PROTOCOL.md §4). Encoded as JSON inside a control frame: the
/// control plane is never on the data path, so readability and evolvability win over bytes.
public enum ControlMessage: Sendable, Codable, Equatable {
    /// The acceptor's first frame on every connection, both planes: the nonce the connector's
    /// `hello` must answer (docs/SECURITY.md).
    case challenge(Challenge)
    /// The connector's first frame, answering the challenge with a proof of its key.
    case hello(Hello)
    /// The acceptor's answer to `hello`.
    case helloAck(HelloAck)
    /// Aggregator → coordinator: I emulate `switchName`; children reach me at `dataEndpoint`.
    case registerAggregator(AggregatorRegistration)
    /// Worker → coordinator: rank `rank` of `worldSize` in job `jobName` wants to join.
    case registerWorker(WorkerRegistration)
    /// Coordinator → aggregator: your place in one job's tree.
    case assignAggregator(AggregatorAssignment)
    /// Aggregator → coordinator: assignment installed (and connected to the parent).
    case assignmentAck(AssignmentAck)
    /// Coordinator → worker: where to send chunks and how.
    case assignWorker(WorkerAssignment)
    /// Worker → coordinator: connected to my leaf; ready for the barrier.
    case workerReady(WorkerReady)
    /// Coordinator → worker: every rank is ready; go.
    case start(JobStart)
    /// Worker → coordinator: how one operation ran, with result digests for validation.
    case opReport(OperationReport)
    /// Coordinator → worker: the validation verdict for one operation.
    case verdict(Verdict)
    /// Coordinator → worker: send me these result chunks (a digest disagreed, or a recovery needs
    /// them for ranks that lack them).
    case fetchChunks(FetchChunks)
    /// Worker → coordinator: the requested result chunks; coordinator → worker, in a recovery: a
    /// result chunk this rank lacks, as another rank holds it.
    case chunkData(ChunkData)
    /// Coordinator → worker: a switch of the job's tree is lost; stop and say what you hold.
    case recoveryQuery(RecoveryQuery)
    /// Worker → coordinator: the chunks of its operation this rank holds.
    case recoveryState(RecoveryState)
    /// Coordinator → worker: the new tree, and what to compute again.
    case recoveryResume(RecoveryResume)
    /// Anyone → anyone: something failed; `report` names the cause.
    case error(ErrorReport)
    /// Worker → coordinator: I have finished the workload.
    case workerDone(WorkerDone)
    /// Client → coordinator: list the jobs on the fabric; answered by `jobList`.
    case listJobs
    /// Coordinator → client: the jobs on the fabric.
    case jobList(JobList)
    /// Coordinator → aggregator: a job ended; free everything it held.
    case jobEnded(JobEnded)
    /// Coordinator → aggregator/worker: stop serving.
    case shutdown(Shutdown)
    /// Liveness, both directions on the control plane.
    case heartbeat(Heartbeat)
    /// Aggregator → coordinator, every `AggregatorStatus.interval`: alive, and what it waits for.
    case aggregatorStatus(AggregatorStatus)
    /// Worker → coordinator, every `AggregatorStatus.interval`: alive, and the operation it is in.
    case workerStatus(WorkerStatus)
    /// Tool → coordinator: the live state of the fabric (`tributary status`).
    case statusRequest
    /// Coordinator → tool.
    case liveStatus(LiveStatus)
}

public enum Role: String, Sendable, Codable {
    case coordinator, aggregator, worker, client
}

public struct Hello: Sendable, Codable, Equatable {
    public var role: Role
    public var protocolVersion: UInt8
    /// Who is speaking: switch name, `rank N`, or a tool's name.
    public var name: String
    /// Data plane only: the job and the sender's child index at the receiver.
    public var job: UInt32?
    public var childIndex: Int?
    /// The connector's nonce and its proof of the key (`Handshake`): the key itself never travels.
    public var nonce: String?
    public var proof: String?

    public init(role: Role, protocolVersion: UInt8 = WireFormat.version, name: String, job: UInt32? = nil,
                childIndex: Int? = nil, nonce: String? = nil, proof: String? = nil) {
        self.role = role
        self.protocolVersion = protocolVersion
        self.name = name
        self.job = job
        self.childIndex = childIndex
        self.nonce = nonce
        self.proof = proof
    }
}

/// A fresh nonce from the acceptor; a replayed hello proves nothing against a new one.
public struct Challenge: Sendable, Codable, Equatable {
    public var nonce: String
    public init(nonce: String) { self.nonce = nonce }
}

public struct HelloAck: Sendable, Codable, Equatable {
    public var name: String
    public var protocolVersion: UInt8
    /// The acceptor's proof of the same key over both nonces, so the connector knows it reached a
    /// peer of its fabric (or job) and not whoever took the port.
    public var proof: String?
    public init(name: String, protocolVersion: UInt8 = WireFormat.version, proof: String? = nil) {
        self.name = name
        self.protocolVersion = protocolVersion
        self.proof = proof
    }
}

public struct AggregatorRegistration: Sendable, Codable, Equatable {
    public var switchName: String
    public var dataEndpoint: Endpoint
    public var pid: Int32
    public init(switchName: String, dataEndpoint: Endpoint, pid: Int32) {
        self.switchName = switchName
        self.dataEndpoint = dataEndpoint
        self.pid = pid
    }
}

public struct WorkerRegistration: Sendable, Codable, Equatable {
    public var jobName: String
    public var rank: Int
    public var worldSize: Int
    /// Host the rank runs on; nil = the topology's host number `hostNumber`, else number `rank`.
    public var host: String?
    /// The topology's host number this rank runs on, for a client that knows its place (an MPI rank
    /// of a split communicator sits on its world rank's host) but not the topology's names.
    public var hostNumber: Int?
    public var pid: Int32
    /// Where the previous rank of the host ring connects to this one.
    public var ringEndpoint: Endpoint?
    /// Proof that this rank holds the job's secret (`JobSecret.proof`): the first rank's proof
    /// defines the job, and a rank with another is refused. Never logged.
    public var jobProof: String
    /// Slots the job asks for at each switch of its tree (nil: the fabric's default quota).
    public var slotRequest: Int?
    public init(jobName: String, rank: Int, worldSize: Int, host: String?, pid: Int32, ringEndpoint: Endpoint? = nil,
                jobProof: String, slotRequest: Int? = nil) {
        self.jobProof = jobProof
        self.slotRequest = slotRequest
        self.jobName = jobName
        self.rank = rank
        self.worldSize = worldSize
        self.host = host
        self.pid = pid
        self.ringEndpoint = ringEndpoint
    }
}

/// Streaming parameters of one job, chosen by the coordinator from the tree's resources.
public struct StreamingParameters: Sendable, Codable, Equatable {
    /// Bytes per chunk (a multiple of 8, so every dtype's elements fit whole).
    public var chunkBytes: Int
    /// Chunks a worker may have outstanding (credits); never more than the smallest slot pool.
    public var window: Int
    /// In-network operations of at most this many bytes take the low-latency path; never more
    /// than `chunkBytes`, so such an operation is one frame per rank (`ReductionProtocol`).
    public var lowLatencyBytes: Int
    /// 4 KiB: a page, the largest of the small sizes nccl-tests and `compare-mpi` time as latency,
    /// and below it copying the result out of its frame costs less than arranging its placement.
    public static let defaultLowLatencyBytes = 4096
    public init(chunkBytes: Int, window: Int, lowLatencyBytes: Int = 0) {
        self.chunkBytes = chunkBytes
        self.window = window
        self.lowLatencyBytes = min(max(0, lowLatencyBytes), chunkBytes)
    }

    /// How an in-network operation over `count` elements of `dtype` travels.
    public func reductionProtocol(count: Int, dtype: DType) -> ReductionProtocol {
        count <= lowLatencyBytes / dtype.size ? .lowLatency : .streaming
    }

    /// Elements per chunk for `dtype`.
    public func chunkElements(_ dtype: DType) -> Int { max(1, chunkBytes / dtype.size) }

    /// Chunks of an operation over `count` elements; at least one, so an empty operation still
    /// synchronises (a barrier is an empty allreduce).
    public func chunkCount(count: Int, dtype: DType) -> Int { geometry(count: count, dtype: dtype).chunkCount }

    /// Where the chunks of an operation over `count` elements of `dtype` lie.
    public func geometry(count: Int, dtype: DType) -> ChunkGeometry {
        ChunkGeometry(count: count, chunkElements: chunkElements(dtype))
    }
}

public struct AggregatorAssignment: Sendable, Codable, Equatable {
    public var job: UInt32
    public var jobName: String
    public var jobKey: String
    public var switchName: String
    /// nil at the root.
    public var parent: Endpoint?
    /// This node's index among its parent's children.
    public var childIndexAtParent: Int?
    /// Ordered children; the fold order.
    public var children: [AggregationTree.Child]
    /// Ranks under each child, for naming who disagrees or who is missing.
    public var childRanks: [[Int]]
    public var streaming: StreamingParameters
    /// Slot pool this job may use at this switch.
    public var slots: Int
    public var slotBytes: Int
    /// The topology node of each child (a host or a switch) and of the parent, for naming links in
    /// metrics and traces (nil from an older coordinator: children are then named by rank).
    public var childNodes: [String]?
    public var parentNode: String?
    /// The job's tree epoch (0 first, one more per recovery); the acknowledgement echoes it.
    public var epoch: Int?
    public init(job: UInt32, jobName: String, jobKey: String, switchName: String, parent: Endpoint?,
                childIndexAtParent: Int?, children: [AggregationTree.Child], childRanks: [[Int]],
                streaming: StreamingParameters, slots: Int, slotBytes: Int) {
        self.job = job
        self.jobName = jobName
        self.jobKey = jobKey
        self.switchName = switchName
        self.parent = parent
        self.childIndexAtParent = childIndexAtParent
        self.children = children
        self.childRanks = childRanks
        self.streaming = streaming
        self.slots = slots
        self.slotBytes = slotBytes
    }
}

public struct AssignmentAck: Sendable, Codable, Equatable {
    public var job: UInt32
    public var switchName: String
    /// The epoch of the assignment acknowledged (nil: 0).
    public var epoch: Int?
    public init(job: UInt32, switchName: String, epoch: Int? = nil) {
        self.job = job
        self.switchName = switchName
        self.epoch = epoch
    }
}

public struct WorkerAssignment: Sendable, Codable, Equatable {
    public var job: UInt32
    public var jobName: String
    public var jobKey: String
    public var rank: Int
    public var worldSize: Int
    public var leaf: String
    public var leafEndpoint: Endpoint
    public var childIndex: Int
    public var streaming: StreamingParameters
    /// How operations will run and why, e.g. `in-network: tree spine0 → leaf0, leaf1 (2 levels)`.
    public var path: String
    /// The next rank's ring endpoint (host ring baseline and fallback); nil with one rank.
    public var ringNext: Endpoint?
    /// Why in-network reduction cannot serve this job (then every operation runs on the host ring).
    public var fallbackReason: String?
    public init(job: UInt32, jobName: String, jobKey: String, rank: Int, worldSize: Int, leaf: String,
                leafEndpoint: Endpoint, childIndex: Int, streaming: StreamingParameters, path: String,
                ringNext: Endpoint? = nil, fallbackReason: String? = nil) {
        self.ringNext = ringNext
        self.fallbackReason = fallbackReason
        self.job = job
        self.jobName = jobName
        self.jobKey = jobKey
        self.rank = rank
        self.worldSize = worldSize
        self.leaf = leaf
        self.leafEndpoint = leafEndpoint
        self.childIndex = childIndex
        self.streaming = streaming
        self.path = path
    }
}

public struct WorkerReady: Sendable, Codable, Equatable {
    public var job: UInt32
    public var rank: Int
    public init(job: UInt32, rank: Int) {
        self.job = job
        self.rank = rank
    }
}

public struct JobStart: Sendable, Codable, Equatable {
    public var job: UInt32
    public init(job: UInt32) { self.job = job }
}

/// How an operation's inputs can be known to the coordinator for the host replay.
public enum InputSource: Sendable, Codable, Equatable {
    /// The largest input a rank ships for validation; a larger operation's result goes unchecked
    /// (its result says so) rather than overflow the control plane.
    public static let maxShippedBytes = 8 << 20

    /// Generated from (seed, rank) by `InputGenerator`: the coordinator regenerates them.
    case generated(InputGenerator)
    /// The application's own buffer; the bytes travel in the (binary) report as they are, up to
    /// `maxShippedBytes` (a control frame holds 16 MiB).
    case shipped(Data)
    /// Not validated.
    case none
}

public struct OperationReport: Sendable, Codable, Equatable {
    public var job: UInt32
    public var rank: Int
    public var opSeq: UInt64
    public var collective: Collective
    public var dtype: DType
    public var op: ReduceOp
    public var count: Int
    public var root: Int
    public var input: InputSource
    /// Digest of every result chunk this rank holds (empty when it holds none, e.g. reduce non-root).
    public var chunkDigests: [UInt64]
    public var seconds: Double
    /// `in-network …` or `host fallback: <reason>`.
    public var path: String
    public var transport: String
    public var algorithm: Algorithm
    /// False for warm-up repetitions (reported for completeness, left out of figures).
    public var measured: Bool = true
    /// Why the operation ran again, in part or whole, on a new tree (a switch was lost); nil: it
    /// ran once.
    public var retried: String?
    /// Payload bytes this rank put on and took off its link for the operation.
    public var bytesSent: Int
    public var bytesReceived: Int
    /// In-network only: the low-latency or the streaming protocol; nil on the host ring.
    public var reductionProtocol: ReductionProtocol?
    public init(job: UInt32, rank: Int, opSeq: UInt64, collective: Collective, dtype: DType, op: ReduceOp, count: Int,
                root: Int, input: InputSource, chunkDigests: [UInt64], seconds: Double, path: String,
                transport: String, algorithm: Algorithm = .inNetwork, bytesSent: Int = 0, bytesReceived: Int = 0) {
        self.algorithm = algorithm
        self.bytesSent = bytesSent
        self.bytesReceived = bytesReceived
        self.job = job
        self.rank = rank
        self.opSeq = opSeq
        self.collective = collective
        self.dtype = dtype
        self.op = op
        self.count = count
        self.root = root
        self.input = input
        self.chunkDigests = chunkDigests
        self.seconds = seconds
        self.path = path
        self.transport = transport
    }
}

public struct Verdict: Sendable, Codable, Equatable {
    public var job: UInt32
    public var opSeq: UInt64
    public var rank: Int
    public var bitExact: Bool
    /// Empty when bit-exact; otherwise names rank, chunk, first differing element, both bit patterns.
    public var detail: String
    public init(job: UInt32, opSeq: UInt64, rank: Int, bitExact: Bool, detail: String) {
        self.job = job
        self.opSeq = opSeq
        self.rank = rank
        self.bitExact = bitExact
        self.detail = detail
    }
}

public struct FetchChunks: Sendable, Codable, Equatable {
    public var job: UInt32
    public var opSeq: UInt64
    public var chunks: [Int]
    public init(job: UInt32, opSeq: UInt64, chunks: [Int]) {
        self.job = job
        self.opSeq = opSeq
        self.chunks = chunks
    }
}

public struct ChunkData: Sendable, Codable, Equatable {
    public var job: UInt32
    public var opSeq: UInt64
    public var rank: Int
    public var chunks: [Int]
    /// One entry per chunk (base64 in the JSON: a quarter of the size of a number array, and fast to code).
    public var bytes: [Data]
    public init(job: UInt32, opSeq: UInt64, rank: Int, chunks: [Int], bytes: [Data]) {
        self.job = job
        self.opSeq = opSeq
        self.rank = rank
        self.chunks = chunks
        self.bytes = bytes
    }
}

/// A failure named by its cause. `kind` lets programs react; `message` is for people.
public struct ErrorReport: Sendable, Codable, Equatable, Error, CustomStringConvertible {
    public enum Kind: String, Sendable, Codable {
        case collectiveMismatch, malformedFrame, versionMismatch, unknownJob, badJobKey, protocolViolation,
             timeout, peerLost, validationFailed, configuration, internalError,
             /// A peer that did not prove the fabric's, or the job's, key.
             unauthenticated,
             /// The fabric cannot give the job what it needs now (and the policy is to refuse).
             admission
    }
    public var kind: Kind
    public var job: UInt32?
    public var opSeq: UInt64?
    /// Ranks at fault, when known (mismatch: the disagreeing ranks; timeout: the missing ranks).
    public var ranks: [Int]
    /// Who reports: `aggregator leaf0`, `coordinator`, `rank 3`.
    public var reporter: String
    public var message: String
    public init(kind: Kind, job: UInt32? = nil, opSeq: UInt64? = nil, ranks: [Int] = [], reporter: String,
                message: String) {
        self.kind = kind
        self.job = job
        self.opSeq = opSeq
        self.ranks = ranks
        self.reporter = reporter
        self.message = message
    }

    public var description: String {
        var s = "\(kind) reported by \(reporter)"
        if let job { s += ", job \(job)" }
        if let opSeq { s += ", op #\(opSeq)" }
        if !ranks.isEmpty { s += ", ranks \(RankList.format(ranks))" }
        return s + ": " + message
    }
}

public struct WorkerDone: Sendable, Codable, Equatable {
    public var job: UInt32
    public var rank: Int
    public var operations: Int
    public init(job: UInt32, rank: Int, operations: Int) {
        self.job = job
        self.rank = rank
        self.operations = operations
    }
}

public struct Shutdown: Sendable, Codable, Equatable {
    public var reason: String
    public init(reason: String) { self.reason = reason }
}

public struct Heartbeat: Sendable, Codable, Equatable {
    public var sequence: UInt64
    public init(sequence: UInt64) { self.sequence = sequence }
}

/// Formats rank lists compactly: `0-3,6,9-10`.
public enum RankList {
    public static func format(_ ranks: [Int]) -> String {
        let sorted = Array(Set(ranks)).sorted()
        var parts: [String] = []
        var i = 0
        while i < sorted.count {
            var j = i
            while j + 1 < sorted.count && sorted[j + 1] == sorted[j] + 1 { j += 1 }
            parts.append(i == j ? "\(sorted[i])" : "\(sorted[i])-\(sorted[j])")
            i = j + 1
        }
        return parts.joined(separator: ",")
    }
}

/// How an in-network operation travels through the tree, after SHARP's two: its low-latency
/// protocol (LLT) for small messages and its streaming aggregation (SAT) for large ones.
public enum ReductionProtocol: String, Sendable, Codable, CaseIterable, CustomStringConvertible {
    /// At most `StreamingParameters.lowLatencyBytes`: one frame per rank up and one down, holding
    /// only the credit every rank starts with; the result is copied out of the frame (placing a
    /// few bytes straight into the caller's buffer costs more to arrange than to copy).
    case lowLatency = "low-latency"
    /// Chunked, with a window of credits per rank, results placed straight into the caller's buffer.
    case streaming

    public var description: String { rawValue }
}

/// How a collective is carried out.
public enum Algorithm: String, Sendable, Codable, CaseIterable, CustomStringConvertible {
    /// Through the aggregator tree: each host link carries the data once each way.
    case inNetwork = "innetwork"
    /// Host ring (reduce-scatter then all-gather among the workers): the baseline and the fallback.
    case ring

    public var description: String { rawValue }
}

/// One job as `tributary jobs` shows it: nothing secret.
public struct JobInfo: Sendable, Codable, Equatable {
    public var id: UInt32
    public var name: String
    public var ranks: Int
    public var registered: Int
    /// `registering`, `queued`, `assembling`, `running`, `failed`.
    public var phase: String
    /// `in-network: …`, `host fallback: …`, or empty while not yet decided.
    public var path: String
    /// Slots the job holds at each switch of its tree.
    public var slots: [String: Int]
    public var operations: Int
    public var seconds: Double
    public init(id: UInt32, name: String, ranks: Int, registered: Int, phase: String, path: String,
                slots: [String: Int], operations: Int, seconds: Double) {
        self.id = id
        self.name = name
        self.ranks = ranks
        self.registered = registered
        self.phase = phase
        self.path = path
        self.slots = slots
        self.operations = operations
        self.seconds = seconds
    }
}

public struct JobList: Sendable, Codable, Equatable {
    public var jobs: [JobInfo]
    /// Jobs that ended since the fabric started (the table keeps only live ones).
    public var ended: Int
    /// Switches whose aggregators are registered now, and the topology's aggregating switches.
    public var switches: [String]
    public var topology: String
    public init(jobs: [JobInfo], ended: Int, switches: [String] = [], topology: String = "") {
        self.jobs = jobs
        self.ended = ended
        self.switches = switches
        self.topology = topology
    }
}

public struct JobEnded: Sendable, Codable, Equatable {
    public var job: UInt32
    public init(job: UInt32) { self.job = job }
}

/// Assignments carry the job's data key: anything that prints one (a log line, an error) shows it
/// redacted, so the key never reaches a terminal or a file.
extension AggregatorAssignment: CustomStringConvertible {
    public var description: String {
        "assignment of job \(job) (\(jobName)) at \(switchName): parent \(parent.map { "\($0)" } ?? "none"), "
            + "\(children.count) children, \(slots) slots × \(slotBytes) B, chunk \(streaming.chunkBytes) B, "
            + "window \(streaming.window)"
    }
}

extension WorkerAssignment: CustomStringConvertible {
    public var description: String {
        "assignment of rank \(rank)/\(worldSize) in job \(job) (\(jobName)): leaf \(leaf) at \(leafEndpoint), "
            + "child \(childIndex), \(path)"
    }
}

extension ControlMessage: CustomStringConvertible {
    /// The message's case and its non-secret fields (assignments are redacted, see above).
    public var description: String {
        switch self {
        case .assignAggregator(let a): return "assignAggregator(\(a))"
        case .assignWorker(let a): return "assignWorker(\(a))"
        case .recoveryResume(let r):
            return "recoveryResume(job \(r.job) epoch \(r.epoch) op #\(r.opSeq): \(r.assignment), "
                + "\(r.recompute.count) chunks again, \(r.shared.count) shared)"
        case .hello(let h): return "hello(\(h.role.rawValue) \(h.name)\(h.job.map { ", job \($0)" } ?? ""))"
        case .registerWorker(let r): return "registerWorker(rank \(r.rank) of \(r.worldSize) in job \(r.jobName))"
        case .chunkData(let d): return "chunkData(job \(d.job) op #\(d.opSeq) rank \(d.rank), \(d.chunks.count) chunks)"
        case .opReport(let r): return "opReport(job \(r.job) op #\(r.opSeq) rank \(r.rank))"
        case .listJobs: return "listJobs"
        case .statusRequest: return "statusRequest"
        default:
            // Every other payload is a plain struct with nothing secret: its case and fields.
            guard let payload = Mirror(reflecting: self).children.first else { return "control message" }
            return "\(payload.label ?? "message")(\(payload.value))"
        }
    }
}
