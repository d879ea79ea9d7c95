/// A topology as a graph of numbered nodes, for drawings and accounting that must turn a pair of node
/// names into the links between them.
///
/// Job summaries name tree edges and link loads by their ends, and those ends need not be neighbours
/// (a tree edge across a switch that only forwards, two hosts on the host ring). Such a pair stands
/// for every link of the path data takes between them, found with the routing rules of the tree
/// builder and the emulated fabric (`FabricRouting`): nodes numbered switches first (file order) then
/// hosts, only switches forward, and among equally short ways the lowest-numbered neighbour wins.
struct TopologyGraph {
    /// One link crossed on a route: `forward` when in the link's own `a` → `b` direction.
    struct Step: Equatable {
        var link: Int
        var forward: Bool
    }

    let switchCount: Int
    /// Node names by number: switches, then hosts.
    let names: [String]
    /// `(neighbour, link)` pairs per node, ascending.
    let adjacency: [[(node: Int, link: Int)]]
    /// Ends of each topology link by number (`a`, `b`), nil for a link naming an unknown node.
    let ends: [(a: Int, b: Int)?]
    private let numbers: [String: Int]
    /// Link number by its ends (lower number first), for the common case of neighbours.
    private let direct: [Pair: Int]

    private struct Pair: Hashable {
        var low: Int
        var high: Int
        init(_ x: Int, _ y: Int) { (low, high) = x < y ? (x, y) : (y, x) }
    }

    init(_ topology: Topology) {
        switchCount = topology.switches.count
        var names = topology.switches.map(\.name)
        names += topology.hosts.map(\.name)
        var numbers: [String: Int] = [:]
        numbers.reserveCapacity(names.count)
        for (i, name) in names.enumerated() where numbers[name] == nil { numbers[name] = i }
        var adjacency = [[(node: Int, link: Int)]](repeating: [], count: names.count)
        var ends: [(a: Int, b: Int)?] = []
        ends.reserveCapacity(topology.links.count)
        var direct: [Pair: Int] = [:]
        direct.reserveCapacity(topology.links.count)
        for (i, link) in topology.links.enumerated() {
            guard let a = numbers[link.a], let b = numbers[link.b], a != b else {
                ends.append(nil)
                continue
            }
            ends.append((a, b))
            adjacency[a].append((b, i))
            adjacency[b].append((a, i))
            if direct[Pair(a, b)] == nil { direct[Pair(a, b)] = i }
        }
        for v in adjacency.indices where adjacency[v].count > 1 {
            adjacency[v].sort { ($0.node, $0.link) < ($1.node, $1.link) }
        }
        self.names = names
        self.adjacency = adjacency
        self.ends = ends
        self.numbers = numbers
        self.direct = direct
    }

    var nodeCount: Int { names.count }

    func number(_ name: String) -> Int? { numbers[name] }

    func isSwitch(_ node: Int) -> Bool { node < switchCount }

    /// The links data crosses from `from` to `to`, in order; nil when either is unknown or no path
    /// exists, empty when they are the same node.
    func route(from: String, to: String) -> [Step]? {
        guard let source = numbers[from], let target = numbers[to] else { return nil }
        return route(from: source, to: target)
    }

    func route(from source: Int, to target: Int) -> [Step]? {
        if source == target { return [] }
        if let link = direct[Pair(source, target)] { return [step(link, from: source)] }
        // Breadth first from the target, expanding only it and switches (hosts never forward), and
        // only until the source is found: every node nearer the target is then numbered, which is all
        // the walk back needs. Distances in a dictionary, so a short route costs what it explores.
        var distance: [Int: Int] = [target: 0]
        var queue = [target]
        var head = 0
        search: while head < queue.count {
            let v = queue[head]
            head += 1
            guard v == target || isSwitch(v) else { continue }
            let next = distance[v]! + 1
            for (u, _) in adjacency[v] where distance[u] == nil {
                distance[u] = next
                if u == source { break search }
                queue.append(u)
            }
        }
        guard var remaining = distance[source] else { return nil }
        var steps: [Step] = []
        steps.reserveCapacity(remaining)
        var v = source
        while v != target {
            guard let hop = adjacency[v].first(where: { entry in
                distance[entry.node] == remaining - 1 && (entry.node == target || isSwitch(entry.node))
            }) else { return nil }
            steps.append(step(hop.link, from: v))
            v = hop.node
            remaining -= 1
        }
        return steps
    }

    private func step(_ link: Int, from node: Int) -> Step {
        Step(link: link, forward: ends[link]?.a == node)
    }
}
