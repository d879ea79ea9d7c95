/// Control-plane messages (docs/PROTOCOL.md §4). Encoded as JSON inside a control frame: the
/// control plane is never on the data path, so readability and evolvability win over bytes.
public enum ControlMessage: Sendable, Codable, Equatable {
    /// First frame on every connection, both planes.
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
    /// Coordinator → worker: send me these result chunks (a digest disagreed).
    case fetchChunks(FetchChunks)
    /// Worker → coordinator: the requested result chunks.
    case chunkData(ChunkData)
    /// Anyone → anyone: something failed; `report` names the cause.
    case error(ErrorReport)
    /// Worker → coordinator: I have finished the workload.
    case workerDone(WorkerDone)
    /// Coordinator → aggregator/worker: stop serving.
    case shutdown(Shutdown)
    /// Liveness, both directions on the control plane.
    case heartbeat(Heartbeat)
}

public enum Role: String, Sendable, Codable {
    case coordinator, aggregator, worker, client
}

public struct Hello: Sendable, Codable, Equatable {
    public var role: Role
    public var protocolVersion: UInt8
    /// Who is speaking: switch name, `rank N`, or a tool's name.
    public var name: String
    /// Data plane only: the job, the sender's child index at the receiver, and the job key.
    public var job: UInt32?
    public var childIndex: Int?
    public var jobKey: String?

    public init(role: Role, protocolVersion: UInt8 = WireFormat.version, name: String, job: UInt32? = nil,
                childIndex: Int? = nil, jobKey: String? = nil) {
        self.role = role
        self.protocolVersion = protocolVersion
        self.name = name
        self.job = job
        self.childIndex = childIndex
        self.jobKey = jobKey
    }
}

public struct HelloAck: Sendable, Codable, Equatable {
    public var name: String
    public var protocolVersion: UInt8
    public init(name: String, protocolVersion: UInt8 = WireFormat.version) {
        self.name = name
        self.protocolVersion = protocolVersion
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
    /// Host the rank runs on; nil = the topology's host number `rank`.
    public var host: String?
    public var pid: Int32
    /// Where the previous rank of the host ring connects to this one.
    public var ringEndpoint: Endpoint?
    public init(jobName: String, rank: Int, worldSize: Int, host: String?, pid: Int32, ringEndpoint: Endpoint? = nil) {
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
    public init(chunkBytes: Int, window: Int) {
        self.chunkBytes = chunkBytes
        self.window = window
    }

    /// Elements per chunk for `dtype`.
    public func chunkElements(_ dtype: DType) -> Int { max(1, chunkBytes / dtype.size) }

    /// Chunks of an operation over `count` elements; at least one, so an empty operation still
    /// synchronises (a barrier is an empty allreduce).
    public func chunkCount(count: Int, dtype: DType) -> Int {
        let per = chunkElements(dtype)
        return max(1, (count + per - 1) / per)
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
    public init(job: UInt32, switchName: String) {
        self.job = job
        self.switchName = switchName
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
    /// Generated from (seed, rank) by `InputGenerator`: the coordinator regenerates them.
    case generated(InputGenerator)
    /// The application's own buffer; the bytes travel in the report (validation mode).
    case shipped([UInt8])
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
    /// Payload bytes this rank put on and took off its link for the operation.
    public var bytesSent: Int
    public var bytesReceived: Int
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
    public var bytes: [[UInt8]]
    public init(job: UInt32, opSeq: UInt64, rank: Int, chunks: [Int], bytes: [[UInt8]]) {
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
             timeout, peerLost, validationFailed, configuration, internalError
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

/// How a collective is carried out.
public enum Algorithm: String, Sendable, Codable, CaseIterable, CustomStringConvertible {
    /// Through the aggregator tree: each host link carries the data once each way.
    case inNetwork = "innetwork"
    /// Host ring (reduce-scatter then all-gather among the workers): the baseline and the fallback.
    case ring

    public var description: String { rawValue }
}
