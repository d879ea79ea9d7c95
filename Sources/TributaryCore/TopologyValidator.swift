/// The invariants every `Topology` must hold before trees are built or a fabric is launched.
///
/// Separate from parsing so that topologies built in code (generators, tests) get the same checks,
/// and so that file parsing can pass the source line of every element to point errors at.
enum TopologyValidator {
    /// Source lines per element, parallel to the topology's arrays (nil entries: unknown).
    struct Lines {
        var switches: [Int?] = []
        var hosts: [Int?] = []
        var links: [Int?] = []
    }

    static func validate(_ topology: Topology, lines: Lines?) throws {
        try checkSize(hosts: topology.hosts.count, switches: topology.switches.count, links: topology.links.count,
                      "the topology")
        func line(_ list: KeyPath<Lines, [Int?]>, _ index: Int) -> Int? {
            guard let all = lines?[keyPath: list], index < all.count else { return nil }
            return all[index]
        }
        func firstAt(_ l: Int?) -> String { l.map { " (first defined at line \($0))" } ?? "" }

        // Switches and hosts share one namespace: links name either.
        var index: [String: Int] = [:]
        index.reserveCapacity(topology.switches.count + topology.hosts.count)
        var firstLine: [Int?] = []
        firstLine.reserveCapacity(topology.switches.count + topology.hosts.count)
        for (i, sw) in topology.switches.enumerated() {
            let l = line(\.switches, i)
            guard !sw.name.isEmpty else { throw TopologyError(.invalidValue, line: l, "a switch has an empty name") }
            if let other = index[sw.name] {
                throw TopologyError(.duplicate, line: l, "duplicate name `\(sw.name)`\(firstAt(firstLine[other]))")
            }
            for (key, value) in sw.aggregation?.fileFields ?? [:] {
                if let problem = aggregationProblem(key, value) {
                    throw TopologyError(.invalidValue, line: l, "switch `\(sw.name)`: \(problem)")
                }
            }
            index[sw.name] = i
            firstLine.append(l)
        }
        let switchCount = topology.switches.count
        for (i, host) in topology.hosts.enumerated() {
            let l = line(\.hosts, i)
            guard !host.name.isEmpty else { throw TopologyError(.invalidValue, line: l, "a host has an empty name") }
            if let other = index[host.name] {
                throw TopologyError(.duplicate, line: l, "duplicate name `\(host.name)`\(firstAt(firstLine[other]))")
            }
            index[host.name] = switchCount + i
            firstLine.append(l)
        }
        guard !topology.hosts.isEmpty else { throw TopologyError(.schema, "the topology has no hosts") }

        var degree = [Int](repeating: 0, count: index.count)
        var seen = Set<Int>()
        seen.reserveCapacity(topology.links.count)
        let nodeCount = index.count
        for (i, link) in topology.links.enumerated() {
            let l = line(\.links, i)
            func named() -> String { "link \(link.a)–\(link.b)" }
            guard let a = index[link.a] else {
                throw TopologyError(.unknownNode, line: l, "\(named()): `\(link.a)` is not a switch or host")
            }
            guard let b = index[link.b] else {
                throw TopologyError(.unknownNode, line: l, "\(named()): `\(link.b)` is not a switch or host")
            }
            guard a != b else { throw TopologyError(.invalidValue, line: l, "\(named()) joins a node to itself") }
            guard a < switchCount || b < switchCount else {
                throw TopologyError(.notConnected, line: l,
                                    "\(named()) joins two hosts; hosts connect only to switches")
            }
            guard seen.insert(min(a, b) * nodeCount + max(a, b)).inserted else {
                throw TopologyError(.duplicate, line: l, "\(named()) is listed twice")
            }
            for (key, value) in link.fileFields {
                if let problem = linkProblem(key, value) {
                    throw TopologyError(.invalidValue, line: l, "\(named()): \(problem)")
                }
            }
            degree[a] += 1
            degree[b] += 1
        }
        for (i, host) in topology.hosts.enumerated() where degree[switchCount + i] == 0 {
            throw TopologyError(.notConnected, line: line(\.hosts, i), "host `\(host.name)` has no link to a switch")
        }
        for (i, sw) in topology.switches.enumerated() where degree[i] == 0 {
            throw TopologyError(.notConnected, line: line(\.switches, i), "switch `\(sw.name)` has no links")
        }
        guard topology.switches.contains(where: { $0.aggregation != nil }) else {
            throw TopologyError(.noAggregatingSwitch,
                                "no switch can aggregate: give switches `aggregation:`, set `defaults.aggregation`, "
                                    + "or list tiers in a generator's `aggregate:`")
        }
    }

    // MARK: - Sense checks, shared with the file reader (which knows each field's own line)

    /// What is wrong with aggregation resource `key` (spelt as in the file) set to `value`, or nil.
    static func aggregationProblem(_ key: String, _ value: Int) -> String? {
        let limit: Int
        switch key {
        case "slot_bytes":
            let (low, high) = (AggregationResources.minSlotBytes, AggregationResources.maxSlotBytes)
            guard value < low || value > high || value % 8 != 0 else { return nil }
            return "`slot_bytes` is \(TopologyUnits.formatSize(value)); a slot holds \(TopologyUnits.formatSize(low)) "
                + "to \(TopologyUnits.formatSize(high)) (the largest chunk the wire carries), in a multiple of 8 B "
                + "so that elements of every dtype fit whole"
        case "slots": limit = AggregationResources.maxSlots
        default: limit = AggregationResources.maxJobsOrTrees
        }
        guard !(1...limit).contains(value) else { return nil }
        return "`\(key)` is \(value); it must be between 1 and \(grouped(limit))"
    }

    /// What is wrong with link parameter `key` (`rate`, `latency`, `jitter`, `loss`) set to `value`, or nil.
    static func linkProblem(_ key: String, _ value: Double) -> String? {
        switch key {
        case "rate":
            let rates = Topology.linkRates
            guard !rates.contains(value) else { return nil }
            let shown = value.isFinite && value > 0 ? TopologyUnits.formatRate(value) : "\(value)"
            return "`rate` is \(shown); links run at \(TopologyUnits.formatRate(rates.lowerBound)) to "
                + "\(TopologyUnits.formatRate(rates.upperBound)) (a bare number means bits/s)"
        case "loss":
            guard !(0..<1).contains(value) else { return nil }
            if value >= 1 {
                return "`loss` is \(value): a link that drops every packet carries nothing, so this is surely "
                    + "a typo (one in a hundred is `1%` or `0.01`)"
            }
            return "`loss` is \(value); it must be a fraction in [0, 1)"
        default:
            guard !(0...Topology.maxLinkDelay).contains(value) else { return nil }
            let shown = value.isFinite && value >= 0 ? TopologyUnits.formatDuration(value) : "\(value)"
            let most = TopologyUnits.formatDuration(Topology.maxLinkDelay)
            return "`\(key)` is \(shown); it must be between 0 and \(most) "
                + "(a bare number means seconds: write `30ms`, not `30`)"
        }
    }

    /// Refuses counts past `Topology.maxEndpoints`, `maxSwitches` or `maxLinks`; `what` names whose
    /// counts they are (`fat-tree k=1000`, `the topology`).
    static func checkSize(hosts: Int, switches: Int, links: Int, _ what: String, line: Int? = nil) throws {
        let counts = [("hosts", hosts, Topology.maxEndpoints), ("switches", switches, Topology.maxSwitches),
                      ("links", links, Topology.maxLinks)]
        for (noun, count, limit) in counts where count > limit {
            throw TopologyError(.invalidValue, line: line,
                                "\(what) has \(grouped(count)) \(noun); the limit is \(grouped(limit)) (a limit of this "
                                    + "planning tool, which holds and checks every host, switch and link in memory)")
        }
    }

    /// `250,000,000`. Counts computed from generator parameters saturate at `Int.max`, shown as `over …`.
    static func grouped(_ n: Int) -> String {
        if n == .max { return "over " + grouped(n - 1) }
        let digits = Array(String(n))
        var out = ""
        for (i, digit) in digits.enumerated() {
            if i > 0, (digits.count - i) % 3 == 0 { out.append(",") }
            out.append(digit)
        }
        return out
    }
}

extension AggregationResources {
    /// The resources as the file spells them, for checks and messages.
    var fileFields: KeyValuePairs<String, Int> {
        ["slots": slots, "slot_bytes": slotBytes, "max_jobs": maxJobs, "max_trees": maxTrees]
    }
}

extension Topology.Link {
    /// The link's parameters as the file spells them, for checks and messages.
    var fileFields: KeyValuePairs<String, Double> { ["rate": rate, "latency": latency, "jitter": jitter, "loss": loss] }
}
