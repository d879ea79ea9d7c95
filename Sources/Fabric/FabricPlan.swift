import TributaryCore

/// Everything `FabricController` builds for a topology, decided up front and without I/O: one network
/// namespace per switch and host, one veth pair per link (with its shaping), addresses, static routes
/// and the management network.
///
/// Pure so that it can be unit-tested, written to disk by `fabric up` and read back by every process
/// that runs inside the fabric (who has which address, what each link is), and so that `down` and
/// `status` compute exactly the names `up` used.
///
/// - Namespaces: `<prefix><node>` (e.g. `trib-default-h0`) and `<prefix>mgmt` for the management
///   namespace. One shared prefix lets `down` find everything even after a crash.
/// - Nodes are ordered switches first (file order), then hosts, like the tree builder's indices.
/// - Data addressing: every node's `dataAddress` is a /32 on an interface of its own (see
///   `Node.dataAddress`);
///   link ends get a /30 each; every node has a route to every other node's /32 (see `routes`).
/// - Management: a bridge in the management namespace; each node has an unshaped veth into it.
public struct FabricPlan: Sendable, Codable, Equatable {
    /// Fabric name, from the topology name with everything but ASCII letters and digits turned into `_`.
    public var name: String
    /// Namespace prefix shared by every namespace of this fabric, e.g. `trib-default-`.
    public var prefix: String
    /// Switches (topology order) then hosts (rank order).
    public var nodes: [Node]
    /// One per topology link, in topology order (`links[i].index == i`).
    public var links: [PlannedLink]
    /// Namespace holding the management bridge; the coordinator runs here.
    public var managementNamespace: String
    /// The coordinator's address (no prefix) on the management network.
    public var managementAddress: String
    /// Static routes per namespace: destination (/32 of every other node's dataAddress) → next-hop
    /// address via interface. Shortest paths (BFS over the topology graph, ties by lowest index) so
    /// paths match the tree builder's: nodes are indexed switches then hosts, only switches forward,
    /// and among equally short ways the lowest-index neighbour (then lowest link index) is taken.
    /// Nodes that cannot reach each other (a disconnected topology) have no route between them.
    public var routes: [String: [Route]]

    /// Plans the fabric of `topology` (validated first). `name` overrides the fabric name (and so the
    /// namespace prefix), e.g. to run a test fabric next to a real one.
    public init(topology: Topology, name: String? = nil) throws {
        try topology.validate(source: topology.name)
        let fabric = FabricAddressing.fabricName(name ?? topology.name)
        let prefix = FabricAddressing.prefix(fabric: fabric)
        let switchCount = topology.switches.count
        let names = topology.switches.map(\.name) + topology.hosts.map(\.name)
        guard names.count <= FabricAddressing.maxNodes else {
            throw FabricError.plan("\(names.count) nodes exceed the \(FabricAddressing.maxNodes) the address pools hold")
        }
        guard topology.links.count <= FabricAddressing.maxLinks else {
            throw FabricError.plan(
                "\(topology.links.count) links exceed the \(FabricAddressing.maxLinks) the link address pool holds")
        }

        // Namespaces: sanitized names can collide (`a/b` and `a_b`, or a node called `mgmt`); later
        // ones get `.<n>` appended, which no sanitized name contains.
        let management = prefix + FabricAddressing.managementComponent
        var used: Set<String> = [management]
        var nodes: [Node] = []
        nodes.reserveCapacity(names.count)
        for (i, nodeName) in names.enumerated() {
            let base = prefix + FabricAddressing.namespaceComponent(nodeName)
            var namespace = base
            var n = 1
            while used.contains(namespace) {
                namespace = "\(base).\(n)"
                n += 1
            }
            used.insert(namespace)
            nodes.append(Node(name: nodeName, kind: i < switchCount ? .switch_ : .host, namespace: namespace,
                              dataAddress: FabricAddressing.dataAddress(node: i),
                              managementAddress: FabricAddressing.managementAddress(node: i)))
        }

        var index: [String: Int] = [:]
        for (i, nodeName) in names.enumerated() { index[nodeName] = i }
        var links: [PlannedLink] = []
        var ends: [(a: Int, b: Int)] = []
        for (i, link) in topology.links.enumerated() {
            guard let a = index[link.a], let b = index[link.b] else {
                throw FabricError.plan("link \(i) joins unknown nodes \(link.a)–\(link.b)")
            }
            ends.append((a, b))
            links.append(PlannedLink(
                index: i,
                a: LinkEnd(node: link.a, interface: FabricAddressing.linkInterface(link: i, end: 0),
                           address: FabricAddressing.linkAddress(link: i, end: 0)),
                b: LinkEnd(node: link.b, interface: FabricAddressing.linkInterface(link: i, end: 1),
                           address: FabricAddressing.linkAddress(link: i, end: 1)),
                rate: link.rate, latency: link.latency, jitter: link.jitter, loss: link.loss))
        }

        let routing = FabricRouting(nodeCount: names.count, switchCount: switchCount, links: ends)
        var routes: [String: [Route]] = [:]
        for nodeName in names { routes[nodeName] = [] }
        for d in names.indices {
            let destination = nodes[d].dataAddress + "/32"
            for (v, hop) in routing.nextHops(to: d).enumerated() {
                guard let hop else { continue }
                let link = links[hop.link]
                let (mine, theirs) = ends[hop.link].a == v ? (link.a, link.b) : (link.b, link.a)
                routes[names[v], default: []].append(
                    Route(destination: destination, via: theirs.host, interface: mine.interface))
            }
        }

        self.name = fabric
        self.prefix = prefix
        self.nodes = nodes
        self.links = links
        self.managementNamespace = management
        self.managementAddress = FabricAddressing.managementHubAddress
        self.routes = routes
    }

    /// The node called `name` (topology name), if any.
    public func node(_ name: String) -> Node? { nodes.first { $0.name == name } }

    /// The network every node's data address lies in (what an MPI library's TCP transport is told
    /// to use, so its traffic takes the shaped links).
    public static var dataNetwork: String { FabricAddressing.format(FabricAddressing.dataBase) + "/16" }

    /// The unshaped management network every namespace of the fabric is on.
    public static var managementNetwork: String {
        FabricAddressing.format(FabricAddressing.managementBase) + "/\(FabricAddressing.managementPrefixLength)"
    }

    /// One-way latency (sum of link latencies) and bottleneck rate along the routed path between two
    /// nodes; used for bandwidth-delay products. `jitter` is the sum of the links' jitters (an upper
    /// bound on the path's spread); `hops` counts links. nil when a node is unknown or unreachable;
    /// a node to itself is zero hops at infinite rate.
    public func path(from: String, to: String) -> (latency: Double, jitter: Double, rate: Double, hops: Int)? {
        pathProfile(from: from, to: to).map { ($0.latency, $0.jitter, $0.rate, $0.hops) }
    }

    /// `path(from:to:)` plus the path's loss (1 − Π(1 − loss) over its links).
    public func pathProfile(from: String, to: String)
        -> (latency: Double, jitter: Double, rate: Double, loss: Double, hops: Int)? {
        guard node(from) != nil, let target = node(to) else { return nil }
        let destination = target.dataAddress + "/32"
        var latency = 0.0, jitter = 0.0, rate = Double.infinity, hops = 0, delivered = 1.0
        var current = from
        while current != to {
            guard hops < nodes.count,
                  let route = routes[current]?.first(where: { $0.destination == destination }),
                  let link = links.first(where: {
                      ($0.a.node == current && $0.a.interface == route.interface)
                          || ($0.b.node == current && $0.b.interface == route.interface)
                  })
            else { return nil }
            latency += link.latency
            jitter += link.jitter
            rate = min(rate, link.rate)
            delivered *= 1 - link.loss
            hops += 1
            current = link.a.node == current && link.a.interface == route.interface ? link.b.node : link.a.node
        }
        return (latency, jitter, rate, 1 - delivered, hops)
    }

    /// Every namespace of the fabric: the management namespace first, then one per node.
    public var namespaces: [String] { [managementNamespace] + nodes.map(\.namespace) }
}
