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
            if let res = sw.aggregation, res.slots < 1 || res.slotBytes < 1 || res.maxJobs < 1 || res.maxTrees < 1 {
                throw TopologyError(.invalidValue, line: l, "switch `\(sw.name)` has aggregation resources below 1")
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
            guard link.rate > 0, link.rate.isFinite else {
                throw TopologyError(.invalidValue, line: l, "\(named()) needs a rate above zero")
            }
            guard link.latency >= 0, link.jitter >= 0, link.latency.isFinite, link.jitter.isFinite else {
                throw TopologyError(.invalidValue, line: l, "\(named()) has a negative latency or jitter")
            }
            guard (0...1).contains(link.loss) else {
                throw TopologyError(.invalidValue, line: l, "\(named()) has a loss outside [0, 1]")
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
}
