/// What an aggregator tells the coordinator every `AggregatorStatus.interval`: that it lives (the
/// heartbeat) and what each of its jobs waits for now. Bounded: a few oldest waits per job.
public struct AggregatorStatus: Sendable, Codable, Equatable {
    /// How often aggregators and workers send their status; a peer silent for `silence` is named.
    public static let interval = Duration.milliseconds(500)
    public static let silence = Duration.milliseconds(1500)
    /// Waits shown per job: the oldest.
    public static let waitsShown = 4

    public var switchName: String
    public var jobs: [JobStatus]
    /// Payload bytes per link since the daemon started: each child node (or the parent) and this switch.
    public var links: [LinkLoad]

    public init(switchName: String, jobs: [JobStatus], links: [LinkLoad]) {
        self.switchName = switchName
        self.jobs = jobs
        self.links = links
    }

    public struct JobStatus: Sendable, Codable, Equatable {
        public var job: UInt32
        public var slotsInUse: Int
        public var slots: Int
        public var chunksFolded: UInt64
        /// The oldest slots still missing some child's contribution.
        public var waits: [SlotWait]
        /// The oldest chunk sent to the parent whose result has not come back (nil at the root).
        public var awaitingParent: ChunkWait?

        public init(job: UInt32, slotsInUse: Int, slots: Int, chunksFolded: UInt64, waits: [SlotWait],
                    awaitingParent: ChunkWait?) {
            self.job = job
            self.slotsInUse = slotsInUse
            self.slots = slots
            self.chunksFolded = chunksFolded
            self.waits = waits
            self.awaitingParent = awaitingParent
        }
    }

    /// A slot open for `seconds`, waiting for the children named (topology nodes) and the ranks below them.
    public struct SlotWait: Sendable, Codable, Equatable {
        public var opSeq: UInt64
        public var chunk: UInt32
        public var missing: [String]
        public var missingRanks: [Int]
        public var seconds: Double

        public init(opSeq: UInt64, chunk: UInt32, missing: [String], missingRanks: [Int], seconds: Double) {
            self.opSeq = opSeq
            self.chunk = chunk
            self.missing = missing
            self.missingRanks = missingRanks
            self.seconds = seconds
        }
    }

    /// A chunk sent up `seconds` ago, its result still to come from `parent`.
    public struct ChunkWait: Sendable, Codable, Equatable {
        public var opSeq: UInt64
        public var chunk: UInt32
        public var parent: String
        public var seconds: Double

        public init(opSeq: UInt64, chunk: UInt32, parent: String, seconds: Double) {
            self.opSeq = opSeq
            self.chunk = chunk
            self.parent = parent
            self.seconds = seconds
        }
    }
}

/// What a rank tells the coordinator every `AggregatorStatus.interval`: that it lives, and the
/// operation it is in.
public struct WorkerStatus: Sendable, Codable, Equatable {
    public var job: UInt32
    public var rank: Int
    /// nil between operations.
    public var operation: Progress?

    public init(job: UInt32, rank: Int, operation: Progress?) {
        self.job = job
        self.rank = rank
        self.operation = operation
    }

    public struct Progress: Sendable, Codable, Equatable {
        public var opSeq: UInt64
        public var collective: Collective
        public var seconds: Double
        public var chunks: Int
        public var chunksSent: Int
        public var resultsReceived: Int
        /// Whom the rank waits for: its leaf switch, or its ring neighbour.
        public var waitingFor: String

        public init(opSeq: UInt64, collective: Collective, seconds: Double, chunks: Int, chunksSent: Int,
                    resultsReceived: Int, waitingFor: String) {
            self.opSeq = opSeq
            self.collective = collective
            self.seconds = seconds
            self.chunks = chunks
            self.chunksSent = chunksSent
            self.resultsReceived = resultsReceived
            self.waitingFor = waitingFor
        }
    }
}

/// The fabric as `tributary status` shows it: switches and their heartbeats, jobs, operations in
/// flight and, for a stalled one, who waits for whom and who has gone silent.
public struct LiveStatus: Sendable, Codable, Equatable {
    public var topology: String
    public var switches: [SwitchState]
    public var jobs: [JobState]
    /// Payload bytes per tree link since each aggregator started (for `topo --svg` of a live fabric).
    public var links: [LinkLoad]

    public init(topology: String, switches: [SwitchState], jobs: [JobState], links: [LinkLoad]) {
        self.topology = topology
        self.switches = switches
        self.jobs = jobs
        self.links = links
    }

    public struct SwitchState: Sendable, Codable, Equatable {
        public var name: String
        public var registered: Bool
        /// Seconds since its last heartbeat (nil: never heard).
        public var silentSeconds: Double?
        public var jobs: Int
        public var slotsInUse: Int
        public var pid: Int32?

        public init(name: String, registered: Bool, silentSeconds: Double?, jobs: Int, slotsInUse: Int, pid: Int32?) {
            self.name = name
            self.registered = registered
            self.silentSeconds = silentSeconds
            self.jobs = jobs
            self.slotsInUse = slotsInUse
            self.pid = pid
        }
    }

    public struct JobState: Sendable, Codable, Equatable {
        public var id: UInt32
        public var name: String
        public var phase: String
        public var ranks: Int
        public var path: String
        public var operations: Int
        /// (child, parent) node pairs of the job's tree.
        public var treeEdges: [[String]]
        /// Ranks whose heartbeats stopped: rank → seconds silent.
        public var silentRanks: [Int: Double]
        /// Operations some rank is in now.
        public var inFlight: [Operation]
        /// Who waits for whom, and the likely cause, for operations stalled past a second.
        public var diagnosis: [String]

        public init(id: UInt32, name: String, phase: String, ranks: Int, path: String, operations: Int,
                    treeEdges: [[String]], silentRanks: [Int: Double], inFlight: [Operation], diagnosis: [String]) {
            self.id = id
            self.name = name
            self.phase = phase
            self.ranks = ranks
            self.path = path
            self.operations = operations
            self.treeEdges = treeEdges
            self.silentRanks = silentRanks
            self.inFlight = inFlight
            self.diagnosis = diagnosis
        }
    }

    public struct Operation: Sendable, Codable, Equatable {
        public var opSeq: UInt64
        public var collective: Collective
        /// How long the longest-running rank has been in it.
        public var seconds: Double
        public var ranksIn: [Int]
        /// Ranks that have not started it (or finished it: they are past it).
        public var ranksNotIn: [Int]

        public init(opSeq: UInt64, collective: Collective, seconds: Double, ranksIn: [Int], ranksNotIn: [Int]) {
            self.opSeq = opSeq
            self.collective = collective
            self.seconds = seconds
            self.ranksIn = ranksIn
            self.ranksNotIn = ranksNotIn
        }
    }
}
