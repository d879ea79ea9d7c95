import TributaryCore

/// The coordinator's live jobs, keyed by id (what every message names) with an index by name
/// (what ranks register with). Ids are random, so a stranger cannot guess another tenant's job.
struct JobTable {
    private(set) var byID: [UInt32: Job] = [:]
    private var idByName: [String: UInt32] = [:]
    /// Jobs that have ended since the coordinator started.
    private(set) var ended = 0

    subscript(id: UInt32) -> Job? { byID[id] }

    func named(_ name: String) -> Job? { idByName[name].flatMap { byID[$0] } }

    /// The job in which connection `peer` registered a rank.
    subscript(peer peer: Int) -> Job? { byID.values.first { job in job.workers.values.contains { $0.peer == peer } } }

    var jobs: Dictionary<UInt32, Job>.Values { byID.values }
    var count: Int { byID.count }

    /// Adds a job under a fresh random id that no live job has.
    mutating func create(_ make: (UInt32) -> Job) -> Job {
        var rng = SystemRandomNumberGenerator()
        var id = UInt32.random(in: 1...UInt32.max, using: &rng)
        while byID[id] != nil { id = UInt32.random(in: 1...UInt32.max, using: &rng) }
        let job = make(id)
        byID[id] = job
        idByName[job.name] = id
        return job
    }

    /// Forgets a job: nothing of it stays in the table.
    mutating func remove(_ id: UInt32) {
        guard let job = byID.removeValue(forKey: id) else { return }
        if idByName[job.name] == id { idByName.removeValue(forKey: job.name) }
        ended += 1
    }
}
