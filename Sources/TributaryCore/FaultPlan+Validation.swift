/// A plan checked against the run it is for, in the parent before any process starts: a fault
/// naming a node the topology lacks, a switch no aggregator runs for or a rank beyond the job
/// would never fire, and a run that quietly injects nothing would pass for one that survived.
extension FaultPlan {
    /// - Parameters:
    ///   - aggregators: the switches aggregators run for here (kills and hangs must name one); nil:
    ///     any switch of the topology (a fabric whose jobs are not known yet).
    ///   - worldSize: the ranks of the run (`slow:rank=R` must be one); nil: not known (serve).
    public func validate(topology: Topology, aggregators: [String]?, worldSize: Int?) throws(FaultSpecError) {
        let nodes = Set(topology.switches.map(\.name) + topology.hostNames)
        let switches = aggregators ?? topology.aggregatingSwitches.map(\.name)
        for fault in faults {
            switch fault.target {
            case .rank(let r):
                if let worldSize, r >= worldSize { throw .noSuchRank(r, fault: fault.spec, worldSize: worldSize) }
            case .named(let name) where fault.kind.stopsProcess:
                guard nodes.contains(name) else {
                    throw .unknownNode(name, fault: fault.spec, topology: topology.name)
                }
                guard switches.contains(name) else {
                    throw .noAggregator(name, fault: fault.spec, running: switches)
                }
            case .named(let name):
                if nodes.contains(name) { continue }
                let splits = Self.linkSplits(name, nodes: nodes)
                if splits.count == 1 { continue }
                if splits.isEmpty && !name.contains("-") {
                    throw .unknownNode(name, fault: fault.spec, topology: topology.name)
                }
                throw .ambiguousLink(name, fault: fault.spec, splits: splits.map { "\($0.0) + \($0.1)" })
            }
        }
    }

    /// Every way `text` is two node names joined by `-`.
    static func linkSplits(_ text: String, nodes: Set<String>) -> [(String, String)] {
        text.indices.filter { text[$0] == "-" }.compactMap { dash in
            let a = String(text[..<dash]), b = String(text[text.index(after: dash)...])
            return nodes.contains(a) && nodes.contains(b) ? (a, b) : nil
        }
    }
}
