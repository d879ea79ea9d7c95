/// The slots a job asks for at every switch of its tree.
///
/// SHARP gives each job a share of a switch's slot pool so that one job's deep pipeline cannot starve
/// the others; the share is what the job may have in flight at that switch. One number for all switches
/// keeps job configuration simple; a switch that cannot give it refuses the job rather than giving less,
/// so a granted job always runs with the pipeline depth it asked for.
public struct JobQuota: Sendable, Codable, Equatable {
    /// Slots asked at each switch; nil asks for the switch's default share.
    public var slots: Int?

    public init(slots: Int? = nil) {
        self.slots = slots
    }

    /// The share that lets `maxJobs` jobs with default quotas fit at once (at least one slot, so a
    /// switch with more jobs than slots still serves each job one chunk at a time).
    public static func defaultSlots(for resources: AggregationResources) -> Int {
        max(1, resources.slots / max(1, resources.maxJobs))
    }

    /// What this quota asks of a switch with `resources`.
    public func slots(at resources: AggregationResources) -> Int {
        slots ?? Self.defaultSlots(for: resources)
    }
}

/// What the fabric does with a job whose tree does not fit in the switches right now.
public enum AdmissionPolicy: String, Sendable, Codable, CaseIterable {
    /// The job waits, in arrival order, until the switches of its tree have room; then it runs
    /// in-network. For fabrics where in-network reduction is worth a wait at start.
    case queue
    /// The job starts at once on the host ring, and every operation reports host fallback with the
    /// refusal as its reason (no silent fallback). For jobs that must start now.
    case ring
    /// The job is refused with the refusal as the error; whoever launched it decides. For strict
    /// deployments and tests, where a job that cannot run in-network should not run at all.
    case refuse
}

/// The answer to "may this job use these switches?".
public enum AdmissionDecision: Sendable, Equatable {
    /// The switches' shares of the job: exactly what it asked for at each (never less).
    public struct Grant: Sendable, Equatable {
        /// Slots each switch of the tree gives the job: its credit window towards that switch.
        public var slotsPerSwitch: [String: Int]

        public init(slotsPerSwitch: [String: Int]) {
            self.slotsPerSwitch = slotsPerSwitch
        }
    }

    case granted(Grant)
    case refused(AdmissionRefusal)

    public var grant: Grant? {
        if case .granted(let grant) = self { return grant }
        return nil
    }

    public var refusal: AdmissionRefusal? {
        if case .refused(let refusal) = self { return refusal }
        return nil
    }
}

/// Why a switch would not take a job. The description is the user-facing reason (shown by the
/// launcher, and on every operation of a job that fell back to the ring), so its wording is a contract.
public struct AdmissionRefusal: Error, CustomStringConvertible, Sendable, Equatable {
    public enum Reason: Sendable, Equatable {
        /// The switch is not in the topology, or is there but only forwards.
        case cannotAggregate(topology: String)
        /// The job asked for fewer than one slot.
        case invalidRequest(request: Int)
        /// The job asked for more slots than the switch has at all.
        case exceedsSwitch(slots: Int, request: Int)
        /// The switch already serves `maxJobs` jobs (`holders`, sorted).
        case tooManyJobs(holders: [UInt32], maxJobs: Int)
        /// The switch is already part of `maxTrees` trees (of `holders`, sorted).
        case tooManyTrees(holders: [UInt32], maxTrees: Int)
        /// `held` of the switch's `slots` are taken by `holders` (sorted) and `request` does not fit
        /// in the rest.
        case slotsTaken(held: Int, slots: Int, holders: [UInt32], request: Int)
    }

    /// The switch that refused.
    public var switchName: String
    /// The job it refused.
    public var job: UInt32
    public var reason: Reason

    public init(switchName: String, job: UInt32, reason: Reason) {
        self.switchName = switchName
        self.job = job
        self.reason = reason
    }

    /// True when waiting cannot help (the topology or the request is wrong, not the load), so the
    /// queue policy must refuse the job instead of queueing it behind others forever.
    public var isPermanent: Bool {
        switch reason {
        case .cannotAggregate, .invalidRequest, .exceedsSwitch: return true
        case .tooManyJobs, .tooManyTrees, .slotsTaken: return false
        }
    }

    public var description: String {
        let name = switchName
        switch reason {
        case .cannotAggregate(let topology):
            return "switch \(name) cannot aggregate in topology \(topology)"
        case .invalidRequest(let request):
            return "switch \(name): job \(job) asks \(request) slots; a job needs at least 1"
        case let .exceedsSwitch(slots, request):
            return "switch \(name) has \(slots) slots; job \(job) asks \(request)"
        case let .tooManyJobs(holders, maxJobs):
            return "switch \(name): \(holders.count) of \(maxJobs) jobs already "
                + "(\(Self.jobList(holders)); max_jobs \(maxJobs)); job \(job) cannot join"
        case let .tooManyTrees(holders, maxTrees):
            return "switch \(name): \(holders.count) of \(maxTrees) trees already "
                + "(\(Self.jobList(holders)); max_trees \(maxTrees)); job \(job) cannot join"
        case let .slotsTaken(held, slots, holders, request):
            return "switch \(name): \(held) of \(slots) slots held by \(Self.jobList(holders)); "
                + "job \(job) asks \(request)"
        }
    }

    /// "job 3", "jobs 3 and 4", "jobs 1, 2 and 3" (sorted, so messages compare across runs).
    static func jobList(_ jobs: [UInt32]) -> String {
        let ids = jobs.sorted().map(String.init)
        switch ids.count {
        case 0: return "no jobs"
        case 1: return "job \(ids[0])"
        default: return "jobs \(ids.dropLast().joined(separator: ", ")) and \(ids[ids.count - 1])"
        }
    }
}

/// One switch's aggregation resources and who holds them, for status and metrics.
public struct SwitchUsage: Sendable, Equatable {
    public var name: String
    /// The switch's whole slot pool.
    public var slots: Int
    /// Slots held by admitted jobs (the sum of `jobs`' values).
    public var slotsHeld: Int
    /// Slots each admitted job holds here.
    public var jobs: [UInt32: Int]
    public var maxJobs: Int
    public var maxTrees: Int
    /// Trees through this switch: one per job for now.
    public var trees: Int { jobs.count }
    public var slotsFree: Int { slots - slotsHeld }

    public init(name: String, slots: Int, slotsHeld: Int, jobs: [UInt32: Int], maxJobs: Int, maxTrees: Int) {
        self.name = name
        self.slots = slots
        self.slotsHeld = slotsHeld
        self.jobs = jobs
        self.maxJobs = maxJobs
        self.maxTrees = maxTrees
    }
}
