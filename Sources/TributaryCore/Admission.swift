/// The aggregation resources of one long-running fabric and which jobs hold them.
///
/// Several jobs share the switches; each switch has a slot pool and limits on jobs and trees (SHARP's
/// per-switch resources). A job is admitted all-or-nothing: every switch of its tree gives it exactly its
/// quota, or the job gets nothing and the refusal names the first switch (in the caller's order, usually
/// top-down) that said no. Pure bookkeeping, no I/O, so the coordinator owns one and tests drive it directly.
///
/// A job holds one tree per switch for now, so a switch's tree count is its job count.
public struct FabricResources: Sendable {
    /// Names the topology in refusals ("cannot aggregate in topology default").
    public let topologyName: String
    /// The switches that can aggregate, in topology order (for status listings).
    public let switchNames: [String]
    private let capacity: [String: AggregationResources]
    /// Switch → job → slots held there. A switch with no holders has no entry.
    private var holdings: [String: [UInt32: Int]] = [:]
    /// Job → what it was granted, so release needs no scan.
    private var grants: [UInt32: [String: Int]] = [:]

    public init(topology: Topology) {
        let aggregating = topology.switches.compactMap { sw in sw.aggregation.map { (sw.name, $0) } }
        topologyName = topology.name
        switchNames = aggregating.map(\.0)
        capacity = Dictionary(aggregating, uniquingKeysWith: { first, _ in first })
    }

    // MARK: - Views

    /// Jobs admitted and not yet released.
    public var jobs: Set<UInt32> { Set(grants.keys) }

    /// Slots `job` holds at each switch; nil when it holds nothing.
    public func holding(job: UInt32) -> [String: Int]? { grants[job] }

    /// The switch's resources and holders; nil when it is unknown or cannot aggregate.
    public func usage(switch name: String) -> SwitchUsage? {
        guard let resources = capacity[name] else { return nil }
        let jobs = holdings[name] ?? [:]
        return SwitchUsage(name: name, slots: resources.slots, slotsHeld: jobs.values.reduce(0, +), jobs: jobs,
                           maxJobs: resources.maxJobs, maxTrees: resources.maxTrees)
    }

    // MARK: - Admission

    /// Whether `job` could be admitted on `switches` now, asking `request` slots at each (nil = each
    /// switch's default share). Changes nothing. A job that already holds resources is judged as if it had
    /// released them, since admitting it again replaces its holding (a rebuilt tree after a lost switch).
    public func check(job: UInt32, switches: [String], request: Int?) -> AdmissionDecision {
        var slotsPerSwitch: [String: Int] = [:]
        for name in switches where slotsPerSwitch[name] == nil {
            switch assess(job: job, at: name, request: request) {
            case .success(let slots): slotsPerSwitch[name] = slots
            case .failure(let refusal): return .refused(refusal)
            }
        }
        return .granted(.init(slotsPerSwitch: slotsPerSwitch))
    }

    /// Every switch that would refuse `job`, in `switches` order (empty when it would be granted): the
    /// whole picture for status output, where `check` stops at the first.
    public func refusals(job: UInt32, switches: [String], request: Int?) -> [AdmissionRefusal] {
        var seen = Set<String>()
        return switches.compactMap { name in
            guard seen.insert(name).inserted, case .failure(let refusal) = assess(job: job, at: name, request: request)
            else { return nil }
            return refusal
        }
    }

    /// `check`, and on a grant records it (replacing whatever `job` held before). A refusal changes
    /// nothing, so a job being re-admitted keeps its old tree's holding until a new one is granted.
    public mutating func admit(job: UInt32, switches: [String], request: Int?) -> AdmissionDecision {
        let decision = check(job: job, switches: switches, request: request)
        guard let grant = decision.grant else { return decision }
        release(job: job)
        for (name, slots) in grant.slotsPerSwitch { holdings[name, default: [:]][job] = slots }
        grants[job] = grant.slotsPerSwitch
        return decision
    }

    /// Frees everything `job` holds. Releasing a job that holds nothing is a no-op, so every path that
    /// ends a job (finish, failure, disconnect) may call it. Returns whether anything was freed.
    @discardableResult
    public mutating func release(job: UInt32) -> Bool {
        guard let grant = grants.removeValue(forKey: job) else { return false }
        for name in grant.keys {
            holdings[name]?[job] = nil
            if holdings[name]?.isEmpty == true { holdings[name] = nil }
        }
        return true
    }

    /// The slots `name` would give `job`, or why not. Checks go from what waiting cannot fix (topology,
    /// request) to what it can (jobs, trees, slots), so a permanent reason is never hidden by load.
    private func assess(job: UInt32, at name: String, request: Int?) -> Result<Int, AdmissionRefusal> {
        func refuse(_ reason: AdmissionRefusal.Reason) -> Result<Int, AdmissionRefusal> {
            .failure(AdmissionRefusal(switchName: name, job: job, reason: reason))
        }
        guard let resources = capacity[name] else { return refuse(.cannotAggregate(topology: topologyName)) }
        let asked = JobQuota(slots: request).slots(at: resources)
        guard asked >= 1 else { return refuse(.invalidRequest(request: asked)) }
        guard asked <= resources.slots else { return refuse(.exceedsSwitch(slots: resources.slots, request: asked)) }
        let others = (holdings[name] ?? [:]).filter { $0.key != job }
        let holders = others.keys.sorted()
        guard others.count < resources.maxJobs else {
            return refuse(.tooManyJobs(holders: holders, maxJobs: resources.maxJobs))
        }
        guard others.count < resources.maxTrees else {
            return refuse(.tooManyTrees(holders: holders, maxTrees: resources.maxTrees))
        }
        let held = others.values.reduce(0, +)
        guard held + asked <= resources.slots else {
            return refuse(.slotsTaken(held: held, slots: resources.slots, holders: holders, request: asked))
        }
        return .success(asked)
    }
}

/// Jobs waiting for switch resources under the `queue` policy, in arrival order.
///
/// Strict FIFO: only the job at the head may start, and a later job that would fit now still waits
/// behind it. That is fair (a large job is not starved by a stream of small ones) and simple (start
/// order is arrival order), at the price of slots left idle while the head waits — a fair trade on an
/// emulated fabric with few, long jobs. Queue only jobs whose refusal is not `isPermanent`: a job that
/// can never fit would hold the head forever.
public struct AdmissionQueue: Sendable, Equatable {
    /// A job's admission request, kept until it can be granted.
    public struct Waiting: Sendable, Equatable {
        public var job: UInt32
        /// The switches of its tree, top-down.
        public var switches: [String]
        public var request: Int?

        public init(job: UInt32, switches: [String], request: Int?) {
            self.job = job
            self.switches = switches
            self.request = request
        }
    }

    /// Waiting jobs, head first.
    public private(set) var waiting: [Waiting] = []

    public init() {}

    public var isEmpty: Bool { waiting.isEmpty }
    public var count: Int { waiting.count }

    /// Adds `job` at the tail. A job already waiting keeps its place and takes the new request (a
    /// client that asks again is not sent to the back).
    public mutating func enqueue(job: UInt32, switches: [String], request: Int?) {
        let entry = Waiting(job: job, switches: switches, request: request)
        if let index = waiting.firstIndex(where: { $0.job == job }) {
            waiting[index] = entry
        } else {
            waiting.append(entry)
        }
    }

    /// Drops `job` (it gave up or disconnected). Returns whether it was waiting.
    @discardableResult
    public mutating func remove(job: UInt32) -> Bool {
        guard let index = waiting.firstIndex(where: { $0.job == job }) else { return false }
        waiting.remove(at: index)
        return true
    }

    /// 0 for the head; nil when `job` is not waiting. For "waiting, 2 jobs ahead" status lines.
    public func position(of job: UInt32) -> Int? { waiting.firstIndex { $0.job == job } }

    /// The head, if `resources` would admit it now; nil otherwise (later jobs never overtake it).
    public func nextAdmissible(_ resources: FabricResources) -> Waiting? {
        guard let head = waiting.first,
              resources.check(job: head.job, switches: head.switches, request: head.request).grant != nil
        else { return nil }
        return head
    }

    /// Admits waiting jobs from the head for as long as they fit, removing each from the queue; call it
    /// after every release. Returns the admitted jobs in order with their grants.
    public mutating func admitReady(
        into resources: inout FabricResources
    ) -> [(job: UInt32, grant: AdmissionDecision.Grant)] {
        var admitted: [(job: UInt32, grant: AdmissionDecision.Grant)] = []
        while let head = waiting.first,
              let grant = resources.admit(job: head.job, switches: head.switches, request: head.request).grant {
            waiting.removeFirst()
            admitted.append((head.job, grant))
        }
        return admitted
    }
}
