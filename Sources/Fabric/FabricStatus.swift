import Foundation

/// What of a fabric actually exists, checked against its plan: namespaces, forwarding, routes, the
/// management bridge, and per link both interfaces, their qdiscs and which mechanism enforces each
/// property. `problems` lists every difference, so `complete` is one test and the text says what
/// to fix.
public struct FabricStatus: Sendable, Codable {
    public var name: String
    public var prefix: String
    /// Whether this kernel has netem (otherwise delay, jitter and loss are `.dataPath`).
    public var netem: Bool
    /// One per node, in plan order.
    public var namespaces: [Namespace]
    public var management: Management
    public var links: [Link]
    /// Namespaces with the fabric's prefix that the plan does not name (left from another plan).
    public var strayNamespaces: [String]
    /// Every way the fabric differs from its plan; empty when it is complete.
    public var problems: [String]

    public init(name: String, prefix: String, netem: Bool, namespaces: [Namespace], management: Management,
                links: [Link], strayNamespaces: [String], problems: [String]) {
        self.name = name
        self.prefix = prefix
        self.netem = netem
        self.namespaces = namespaces
        self.management = management
        self.links = links
        self.strayNamespaces = strayNamespaces
        self.problems = problems
    }

    /// Everything the plan names exists and is configured.
    public var complete: Bool { problems.isEmpty }

    /// Nothing of the fabric exists (after `down`, or before `up`).
    public var absent: Bool {
        !management.exists && !namespaces.contains(where: \.exists) && strayNamespaces.isEmpty
    }

    /// Human-readable report for `tributary fabric status`.
    public func render() -> String {
        var lines: [String] = []
        let state = complete ? "complete" : (absent ? "not present" : "INCOMPLETE")
        lines.append("fabric \(name) (namespaces \(prefix)*): \(state)")
        if netem {
            lines.append("shaping: rate by tbf; delay, jitter and loss by netem (kernel)")
        } else {
            lines.append("shaping: rate by tbf; this kernel has no netem, so delay, jitter and loss are "
                + "enforced by the tributary data path (\(LinkShaping.Mechanism.dataPath.rawValue)), not the kernel")
        }
        lines.append("management: \(management.namespace) "
            + (management.exists ? "present" : "MISSING")
            + ", bridge \(FabricAddressing.managementBridge) \(management.bridgeUp ? "up" : "DOWN")"
            + ", coordinator \(management.address), ports \(management.ports)/\(management.plannedPorts)")

        let present = namespaces.filter(\.exists).count
        lines.append("namespaces: \(present)/\(namespaces.count) nodes present")
        var table: [[String]] = [["node", "kind", "namespace", "data", "management", "forwarding", "routes"]]
        for ns in namespaces {
            table.append([ns.node, ns.kind, ns.name + (ns.exists ? "" : " (MISSING)"), ns.dataAddress,
                          ns.managementAddress,
                          ns.forwarding.map { $0 ? "on" : "off" } ?? "-",
                          "\(ns.routes)/\(ns.plannedRoutes)"])
        }
        lines += Self.columns(table).map { "  " + $0 }

        lines.append("links: \(links.filter(\.ok).count)/\(links.count) up and shaped")
        table = [["#", "a", "b", "up", "qdiscs a / b", "rate", "delay", "jitter", "loss"]]
        for link in links {
            table.append([
                "\(link.index)",
                "\(link.a.node)/\(link.a.interface)", "\(link.b.node)/\(link.b.interface)",
                link.a.up && link.b.up ? "yes" : "NO",
                "\(Self.qdiscs(link.a)) / \(Self.qdiscs(link.b))",
                "\(Self.rate(link.rate)) \(link.shaping.rate.rawValue)",
                "\(Self.time(link.latency)) \(link.shaping.delay.rawValue)",
                "\(Self.time(link.jitter)) \(link.shaping.jitter.rawValue)",
                "\(Self.fraction(link.loss)) \(link.shaping.loss.rawValue)",
            ])
        }
        lines += Self.columns(table).map { "  " + $0 }
        if !strayNamespaces.isEmpty {
            lines.append("stray namespaces (prefix matches, not in the plan): "
                + strayNamespaces.joined(separator: ", "))
        }
        if problems.isEmpty {
            lines.append("problems: none")
        } else {
            lines.append("problems (\(problems.count)):")
            lines += problems.prefix(40).map { "  - " + $0 }
            if problems.count > 40 { lines.append("  … and \(problems.count - 40) more") }
        }
        return lines.joined(separator: "\n")
    }

    // MARK: - Formatting

    private static func qdiscs(_ end: LinkEnd) -> String {
        guard end.exists else { return "missing" }
        return end.qdiscs.isEmpty ? "none" : end.qdiscs.joined(separator: "+")
    }

    static func rate(_ bits: Double) -> String {
        for (scale, unit) in [(1e12, "Tbit/s"), (1e9, "Gbit/s"), (1e6, "Mbit/s"), (1e3, "kbit/s")] where bits >= scale {
            return trimmed(bits / scale) + " " + unit
        }
        return trimmed(bits) + " bit/s"
    }

    static func time(_ seconds: Double) -> String {
        if seconds == 0 { return "0" }
        if seconds >= 1 { return trimmed(seconds) + " s" }
        if seconds >= 1e-3 { return trimmed(seconds * 1e3) + " ms" }
        return trimmed(seconds * 1e6) + " us"
    }

    static func fraction(_ value: Double) -> String { value == 0 ? "0" : trimmed(value * 100) + "%" }

    private static func trimmed(_ value: Double) -> String {
        var text = String(format: "%.3f", value)
        while text.hasSuffix("0") { text.removeLast() }
        if text.hasSuffix(".") { text.removeLast() }
        return text
    }

    private static func columns(_ rows: [[String]]) -> [String] {
        guard let width = rows.map(\.count).max() else { return [] }
        var sizes = [Int](repeating: 0, count: width)
        for row in rows { for (i, cell) in row.enumerated() { sizes[i] = max(sizes[i], cell.count) } }
        return rows.map { row in
            row.enumerated().map { i, cell in
                i == row.count - 1 ? cell : cell.padding(toLength: sizes[i], withPad: " ", startingAt: 0)
            }.joined(separator: "  ")
        }
    }
}
