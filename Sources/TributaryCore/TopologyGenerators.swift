/// Generated fabrics: the regular topologies people plan with, built from a few numbers.
///
/// Names are deterministic and stable across runs and machines (`spine0`, `leaf0`, `core0`,
/// `agg-p0-0`, `edge-p0-0`, `g0-r0`, hosts `h0`…, each with the optional prefix) because trees,
/// logs and test expectations refer to them. Switches are listed top tier first (which makes the
/// upper tier win root ties in the tree builder); hosts are listed leaf by leaf, so by default
/// consecutive ranks share a leaf.
extension Topology {
    /// Shape of one class of generated links.
    public struct LinkProfile: Sendable, Equatable {
        /// Bits per second.
        public var rate: Double
        /// Seconds.
        public var latency: Double
        /// Seconds.
        public var jitter: Double
        /// Fraction in [0, 1).
        public var loss: Double

        public init(rate: Double, latency: Double = 0, jitter: Double = 0, loss: Double = 0) {
            self.rate = rate
            self.latency = latency
            self.jitter = jitter
            self.loss = loss
        }

        public func link(_ a: String, _ b: String) -> Link {
            Link(a: a, b: b, rate: rate, latency: latency, jitter: jitter, loss: loss)
        }
    }

    /// What every generator needs besides its counts.
    public struct GeneratorOptions: Sendable {
        /// Prepended to every switch and host name (e.g. `dc1-`), so several generated fabrics can
        /// live in one topology.
        public var prefix: String
        /// Site of every generated switch and host.
        public var site: String?
        /// Aggregation resources by tier (`spine`, `leaf`; `core`, `agg`, `edge`; `router`); a tier
        /// missing here only forwards.
        public var aggregation: [String: AggregationResources]
        /// Host–switch links.
        public var hostLink: LinkProfile
        /// Switch–switch links (dragonfly: inside a group).
        public var fabricLink: LinkProfile

        public init(prefix: String = "", site: String? = nil,
                    aggregation: [String: AggregationResources],
                    hostLink: LinkProfile, fabricLink: LinkProfile) {
            self.prefix = prefix
            self.site = site
            self.aggregation = aggregation
            self.hostLink = hostLink
            self.fabricLink = fabricLink
        }
    }

    /// A two-tier leaf-spine (folded Clos): every leaf links to every spine.
    /// Switches `spine0…`, `leaf0…`; hosts `h0…`, `hostsPerLeaf` per leaf, leaf by leaf.
    public static func leafSpine(spines: Int, leaves: Int, hostsPerLeaf: Int,
                                 options: GeneratorOptions) throws -> Topology {
        guard spines >= 1, leaves >= 1, hostsPerLeaf >= 1 else {
            throw TopologyError(.invalidValue, "leaf-spine needs spines, leaves and hosts_per_leaf >= 1")
        }
        let hosts = product(leaves, hostsPerLeaf)
        try TopologyValidator.checkSize(hosts: hosts, switches: sum(spines, leaves),
                                        links: sum(product(spines, leaves), hosts),
                                        "leaf-spine spines=\(spines), leaves=\(leaves), hosts_per_leaf=\(hostsPerLeaf)")
        let p = options.prefix
        var topology = Topology(name: "leaf-spine", switches: [], hosts: [], links: [])
        let spineNames = (0..<spines).map { "\(p)spine\($0)" }
        let leafNames = (0..<leaves).map { "\(p)leaf\($0)" }
        for name in spineNames { topology.addSwitch(name, tier: "spine", options) }
        for name in leafNames { topology.addSwitch(name, tier: "leaf", options) }
        for spine in spineNames {
            for leaf in leafNames { topology.links.append(options.fabricLink.link(leaf, spine)) }
        }
        topology.addHosts(under: leafNames, perSwitch: hostsPerLeaf, options)
        return topology
    }

    /// A k-ary three-tier fat-tree (Al-Fares et al.): k pods of k/2 edge and k/2 aggregation
    /// switches, (k/2)² cores, k/2 hosts per edge unless `hostsPerEdge` says otherwise
    /// (k³/4 hosts in all; k = 74 gives 101,306). Aggregation switch i of every pod links to cores
    /// i·k/2 ..< (i+1)·k/2. Switches `core0…`, `agg-p<pod>-<i>`, `edge-p<pod>-<i>`; hosts `h0…`.
    public static func fatTree(k: Int, hostsPerEdge: Int? = nil, options: GeneratorOptions) throws -> Topology {
        guard k >= 2, k % 2 == 0 else {
            throw TopologyError(.invalidValue, "fat-tree `k` must be even and >= 2, not \(k)")
        }
        let half = k / 2
        let perEdge = hostsPerEdge ?? half
        guard perEdge >= 1 else { throw TopologyError(.invalidValue, "fat-tree `hosts_per_edge` must be >= 1") }
        let hosts = product(k, half, perEdge)
        try TopologyValidator.checkSize(hosts: hosts, switches: sum(product(half, half), product(k, k)),
                                        links: sum(product(2, k, half, half), hosts),
                                        "fat-tree k=\(k)" + (hostsPerEdge.map { ", hosts_per_edge=\($0)" } ?? ""))
        let p = options.prefix
        var topology = Topology(name: "fat-tree", switches: [], hosts: [], links: [])
        topology.switches.reserveCapacity(half * half + k * k)
        topology.links.reserveCapacity(k * half * half * 2 + k * half * perEdge)
        let cores = (0..<(half * half)).map { "\(p)core\($0)" }
        let aggs = (0..<k).map { pod in (0..<half).map { "\(p)agg-p\(pod)-\($0)" } }
        let edges = (0..<k).map { pod in (0..<half).map { "\(p)edge-p\(pod)-\($0)" } }
        for name in cores { topology.addSwitch(name, tier: "core", options) }
        for pod in aggs { for name in pod { topology.addSwitch(name, tier: "agg", options) } }
        for pod in edges { for name in pod { topology.addSwitch(name, tier: "edge", options) } }
        for pod in 0..<k {
            for i in 0..<half {
                for j in 0..<half { topology.links.append(options.fabricLink.link(aggs[pod][i], cores[i * half + j])) }
            }
            for edge in edges[pod] {
                for agg in aggs[pod] { topology.links.append(options.fabricLink.link(edge, agg)) }
            }
        }
        topology.addHosts(under: edges.flatMap { $0 }, perSwitch: perEdge, options)
        return topology
    }

    /// A dragonfly: `groups` groups of `routersPerGroup` routers, all-to-all inside a group
    /// (`fabricLink`), one global link between every pair of groups (`globalLink`), spread so each
    /// router carries at most `globalLinksPerRouter` of them. Routers `g<group>-r<i>`, tier `router`;
    /// hosts `h0…`, router by router.
    public static func dragonfly(groups: Int, routersPerGroup: Int, hostsPerRouter: Int, globalLinksPerRouter: Int,
                                 globalLink: LinkProfile, options: GeneratorOptions) throws -> Topology {
        guard groups >= 1, routersPerGroup >= 1, hostsPerRouter >= 1, globalLinksPerRouter >= 1 else {
            throw TopologyError(.invalidValue, "dragonfly counts must all be >= 1")
        }
        let routerCount = product(groups, routersPerGroup)
        let hosts = product(routerCount, hostsPerRouter)
        let links = sum(product(groups, product(routersPerGroup, routersPerGroup - 1) / 2),
                        product(groups, groups - 1) / 2, hosts)
        try TopologyValidator.checkSize(hosts: hosts, switches: routerCount, links: links,
                                        "dragonfly groups=\(groups), routers_per_group=\(routersPerGroup), "
                                            + "hosts_per_router=\(hostsPerRouter)")
        guard groups - 1 <= product(routersPerGroup, globalLinksPerRouter) else {
            throw TopologyError(.invalidValue,
                                "dragonfly with \(groups) groups needs routers_per_group × global_links_per_router "
                                    + ">= \(groups - 1) to link every pair of groups")
        }
        let p = options.prefix
        var topology = Topology(name: "dragonfly", switches: [], hosts: [], links: [])
        let routers = (0..<groups).map { g in (0..<routersPerGroup).map { "\(p)g\(g)-r\($0)" } }
        for group in routers { for name in group { topology.addSwitch(name, tier: "router", options) } }
        for group in routers {
            for i in 0..<routersPerGroup {
                for j in (i + 1)..<routersPerGroup {
                    topology.links.append(options.fabricLink.link(group[i], group[j]))
                }
            }
        }
        // Group i reaches group j through its global port j (or j-1 past itself); ports fill routers in order.
        for i in 0..<groups {
            for j in (i + 1)..<groups {
                let fromI = routers[i][(j - 1) / globalLinksPerRouter]
                let fromJ = routers[j][i / globalLinksPerRouter]
                topology.links.append(globalLink.link(fromI, fromJ))
            }
        }
        topology.addHosts(under: routers.flatMap { $0 }, perSwitch: hostsPerRouter, options)
        return topology
    }

    /// Generator sizes are computed from their parameters before anything is allocated, and those
    /// parameters are whatever Int a file holds (`k: 9000000000`): products and sums saturate at
    /// `Int.max` instead of trapping, since they are only compared with limits.
    private static func product(_ factors: Int...) -> Int {
        factors.reduce(1) { a, b in
            let (r, overflow) = a.multipliedReportingOverflow(by: b)
            return overflow ? .max : r
        }
    }

    private static func sum(_ terms: Int...) -> Int {
        terms.reduce(0) { a, b in
            let (r, overflow) = a.addingReportingOverflow(b)
            return overflow ? .max : r
        }
    }

    private mutating func addSwitch(_ name: String, tier: String, _ options: GeneratorOptions) {
        switches.append(Switch(name: name, tier: tier, site: options.site, aggregation: options.aggregation[tier]))
    }

    /// Hosts `h<n>` numbered across `parents` in order, `perSwitch` under each.
    private mutating func addHosts(under parents: [String], perSwitch: Int, _ options: GeneratorOptions) {
        hosts.reserveCapacity(hosts.count + parents.count * perSwitch)
        links.reserveCapacity(links.count + parents.count * perSwitch)
        var n = 0
        for parent in parents {
            for _ in 0..<perSwitch {
                let name = "\(options.prefix)h\(n)"
                hosts.append(Host(name: name, site: options.site))
                links.append(options.hostLink.link(name, parent))
                n += 1
            }
        }
    }
}
