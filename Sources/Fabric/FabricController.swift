import Foundation

/// Builds, inspects and removes a `FabricPlan` on this machine with `ip`, `tc` and `sysctl`.
///
/// Everything happens inside namespaces named with the plan's prefix; the root namespace only sees
/// `ip netns add`/`delete` (veth pairs are created directly inside their namespaces), so its
/// interfaces and routes are never touched. Commands are batched (`ip -n <ns> -batch`,
/// `tc -n <ns> -batch`) and namespaces configured a few at a time, so the default fabric comes up
/// with a few dozen short-lived processes.
public final class FabricController: Sendable {
    public let plan: FabricPlan
    private let log: @Sendable (String) -> Void

    public init(plan: FabricPlan, log: @escaping @Sendable (String) -> Void = { _ in }) {
        self.plan = plan
        self.log = log
    }

    // MARK: - netem

    /// Whether the kernel has netem, detected once per process by adding a netem qdisc to `lo` in
    /// a scratch namespace (then removing it). `TRIBUTARY_NETEM=0|1` overrides the detection, e.g.
    /// to exercise the data-path delay on a kernel that has netem.
    public static func netemAvailable() -> Bool { netem }

    private static let netem: Bool = {
        switch ProcessInfo.processInfo.environment["TRIBUTARY_NETEM"] {
        case "0": return false
        case "1": return true
        default: return detectNetem()
        }
    }()

    private static func detectNetem() -> Bool {
        // Not `trib-…`: no fabric's `down` may ever match the probe.
        let scratch = "tribprobe-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        guard (try? CommandRunner.check(["ip", "netns", "add", scratch])) != nil else { return false }
        defer { _ = try? CommandRunner.run(["ip", "netns", "delete", scratch]) }
        let added = try? CommandRunner.run(["tc", "-n", scratch, "qdisc", "add", "dev", "lo", "root", "netem",
                                            "delay", "1ms"])
        return added?.status == 0
    }

    // MARK: - up

    /// Creates everything in the plan. Namespaces left with the plan's prefix (a crashed `up`, an
    /// earlier fabric of the same name) are removed first, so `up` always starts clean. On failure
    /// half-way, removes everything it made and rethrows.
    public func up() throws {
        let start = Date()
        let leftovers = try Self.namespaces(withPrefix: plan.prefix)
        if !leftovers.isEmpty {
            log("fabric \(plan.name): removing \(leftovers.count) leftover namespace(s) with prefix \(plan.prefix)")
            try Self.remove(leftovers, prefix: plan.prefix)
        }
        let netem = Self.netemAvailable()
        do {
            try build(netem: netem)
            try waitUntilComplete(timeout: Self.readyTimeout)
        } catch {
            log("fabric \(plan.name): up failed, removing what it made: \(error)")
            do {
                try Self.down(prefix: plan.prefix)
            } catch let cleanup {
                log("fabric \(plan.name): cleanup after failed up also failed: \(cleanup)")
            }
            throw error
        }
        log(String(format: "fabric %@: %d namespaces, %d links up in %.2f s (delay/jitter/loss by %@)",
                   plan.name, plan.nodes.count + 1, plan.links.count, Date().timeIntervalSince(start),
                   netem ? "netem" : LinkShaping.Mechanism.dataPath.rawValue))
    }

    private func build(netem: Bool) throws {
        let plan = self.plan
        let nodeIndex = Dictionary(uniqueKeysWithValues: plan.nodes.enumerated().map { ($0.element.name, $0.offset) })

        // 1. Namespaces, in one process.
        try CommandRunner.check(["ip", "-batch", "-"], batch: plan.namespaces.map { "netns add \($0)" })

        // 2. sysctls before any interface exists, so every interface inherits `default`: no reverse-path
        //    filtering (routes may be asymmetric under ties), no IPv6 on the veths and the bridge (no
        //    router/neighbour solicitations on shaped links; `lo` keeps ::1, so "localhost" still
        //    works), forwarding on switches only.
        let ipv6 = FileManager.default.fileExists(atPath: "/proc/sys/net/ipv6")
        let sysctls: [(String, [String])] = plan.namespaces.map { namespace in
            var settings = ["net.ipv4.conf.all.rp_filter=0", "net.ipv4.conf.default.rp_filter=0"]
            if ipv6 { settings.append("net.ipv6.conf.default.disable_ipv6=1") }
            if plan.nodes.contains(where: { $0.namespace == namespace && $0.kind == .switch_ }) {
                settings.append("net.ipv4.ip_forward=1")
            }
            return (namespace, settings)
        }
        try CommandRunner.concurrently(sysctls) { namespace, settings in
            try CommandRunner.check(["ip", "netns", "exec", namespace, "sysctl", "-q", "-w"] + settings)
        }

        // 3. veth pairs, each end created directly in its namespace (never in the root namespace).
        var veths: [String] = []
        for link in plan.links {
            guard let a = plan.node(link.a.node), let b = plan.node(link.b.node) else { continue }
            // Jumbo MTU: per-packet costs (forwarding, tbf, softirqs) dominate on 2 cores; with
            // 1500-byte packets 8 workers at 200 Mbit/s saturated the CPU in system time (42 % of
            // the link rate reached), with 65000 the same run reaches 96 %.
            veths.append("link add \(link.a.interface) netns \(a.namespace) mtu \(Shaping.mtu) type veth peer name "
                + "\(link.b.interface) netns \(b.namespace) mtu \(Shaping.mtu)")
        }
        for (i, node) in plan.nodes.enumerated() {
            veths.append("link add \(FabricAddressing.managementInterface(node: i)) netns \(node.namespace) type veth "
                + "peer name \(FabricAddressing.managementPort(node: i)) netns \(plan.managementNamespace)")
        }
        try CommandRunner.check(["ip", "-batch", "-"], batch: veths)

        // 4. Addresses, links up, routes (ip batch) and shaping (tc batch), per namespace.
        var jobs: [(namespace: String, ip: [String], tc: [String])] = []
        let bridge = FabricAddressing.managementBridge
        var hub = ["link set lo up", "link add \(bridge) type bridge",
                   "address add \(plan.managementAddress)/\(FabricAddressing.managementPrefixLength) dev \(bridge)",
                   "link set \(bridge) up"]
        for i in plan.nodes.indices {
            let port = FabricAddressing.managementPort(node: i)
            hub += ["link set \(port) master \(bridge)", "link set \(port) up"]
        }
        jobs.append((plan.managementNamespace, hub, []))
        var ends: [String: [(FabricPlan.LinkEnd, FabricPlan.PlannedLink)]] = [:]
        for link in plan.links {
            for end in link.ends { ends[end.node, default: []].append((end, link)) }
        }
        for node in plan.nodes {
            let i = nodeIndex[node.name]!
            let management = FabricAddressing.managementInterface(node: i)
            let data = FabricAddressing.dataInterface
            var ip = ["link set lo up", "link add \(data) type bridge",
                      "address add \(node.dataAddress)/32 dev \(data)", "link set \(data) up",
                      "address add \(node.managementAddress)/\(FabricAddressing.managementPrefixLength) dev \(management)",
                      "link set \(management) up"]
            var tc: [String] = []
            for (end, link) in ends[node.name] ?? [] {
                ip += ["address add \(end.address) dev \(end.interface)", "link set \(end.interface) up"]
                tc += Shaping.tcCommands(for: end, link: link, netem: netem).map { $0.dropFirst().joined(separator: " ") }
            }
            for route in plan.routes[node.name] ?? [] {
                ip.append("route add \(route.destination) via \(route.via) dev \(route.interface) src \(node.dataAddress)")
            }
            jobs.append((node.namespace, ip, tc))
        }
        try CommandRunner.concurrently(jobs) { job in
            try CommandRunner.check(["ip", "-n", job.namespace, "-batch", "-"], batch: job.ip)
            if !job.tc.isEmpty {
                try CommandRunner.check(["tc", "-n", job.namespace, "-batch", "-"], batch: job.tc)
            }
        }
    }

    /// How long `up` waits for carriers after configuring everything.
    static let readyTimeout = 5.0

    /// veth carrier (operstate) changes reach the interfaces through the kernel's link-watch work,
    /// up to a second after `link set up`: `up` returns only once `status` finds everything, so the
    /// first packets of a job never meet a link that is still down.
    private func waitUntilComplete(timeout: Double) throws {
        let deadline = Date().addingTimeInterval(timeout)
        while true {
            let status = try status()
            if status.complete { return }
            if Date() >= deadline { throw FabricError.notReady(status.problems) }
            Thread.sleep(forTimeInterval: 0.05)
        }
    }

    // MARK: - down

    /// Removes every namespace starting with `plan.prefix` (the management namespace included; veths
    /// and qdiscs go with them). Idempotent: also after a crashed `up`, also when nothing exists.
    public func down() throws {
        let start = Date()
        let removed = try Self.removeAll(prefix: plan.prefix)
        if removed > 0 {
            log(String(format: "fabric %@: %d namespaces removed in %.2f s", plan.name, removed,
                       Date().timeIntervalSince(start)))
        }
    }

    /// `down` without a plan: removes every namespace starting with `prefix`, which must look like a
    /// fabric prefix (`trib-<name>-`) so that a typo cannot remove unrelated namespaces.
    public static func down(prefix: String) throws {
        _ = try removeAll(prefix: prefix)
    }

    private static func removeAll(prefix: String) throws -> Int {
        try checkPrefix(prefix)
        let names = try namespaces(withPrefix: prefix)
        if !names.isEmpty { try remove(names, prefix: prefix) }
        return names.count
    }

    private static func checkPrefix(_ prefix: String) throws {
        let root = FabricAddressing.namespacePrefixRoot
        guard prefix.hasPrefix(root), prefix.count > root.count + 1, prefix.hasSuffix("-") else {
            throw FabricError.unsafePrefix(prefix)
        }
    }

    /// Deletes `names` (continuing past failures: a namespace may vanish meanwhile), then checks that
    /// none with `prefix` is left.
    private static func remove(_ names: [String], prefix: String) throws {
        let lines = names.map { "netns delete \($0)" }
        let output = try CommandRunner.run(["ip", "-force", "-batch", "-"], batch: lines)
        let left = try namespaces(withPrefix: prefix)
        guard left.isEmpty else {
            if output.status != 0 {
                throw FabricError.commandFailed(command: ["ip", "-force", "-batch", "-"], status: output.status,
                                                stderr: output.stderr, input: lines)
            }
            throw FabricError.leftovers(left)
        }
    }

    /// Names from `ip netns list` that start with `prefix`.
    static func namespaces(withPrefix prefix: String) throws -> [String] {
        try listNamespaces().filter { $0.hasPrefix(prefix) }
    }

    /// `ip netns list` prints `name` or `name (id: n)` per line.
    static func listNamespaces() throws -> [String] {
        try CommandRunner.check(["ip", "netns", "list"]).split(separator: "\n").compactMap { line in
            line.split(separator: " ").first.map(String.init)
        }
    }

    // MARK: - status

    /// Per namespace: exists, forwarding, routes; per link: both interfaces up, qdiscs present, and
    /// which mechanism enforces rate/delay/jitter/loss. Never throws for a missing piece (that is a
    /// `problem`); throws only when `ip netns list` itself fails.
    public func status() throws -> FabricStatus {
        let plan = self.plan
        let netem = Self.netemAvailable()
        let existing = Set(try Self.namespaces(withPrefix: plan.prefix))
        let probes = Probes()
        let targets = plan.namespaces.filter { existing.contains($0) }
        let switches = Set(plan.nodes.filter { $0.kind == .switch_ }.map(\.namespace))
        try CommandRunner.concurrently(targets) { namespace in
            probes.set(namespace, Self.probe(namespace, forwarding: switches.contains(namespace)))
        }

        var problems: [String] = []
        var namespaces: [FabricStatus.Namespace] = []
        for node in plan.nodes {
            let probe = probes.get(node.namespace)
            let planned = plan.routes[node.name] ?? []
            let routes = planned.filter { route in
                let destination = route.destination.hasSuffix("/32") ? String(route.destination.dropLast(3))
                                                                      : route.destination
                return probe?.routes.contains("\(destination) \(route.via) \(route.interface)") ?? false
            }.count
            let forwarding = node.kind == .switch_ ? (probe?.forwarding ?? false) : nil
            namespaces.append(FabricStatus.Namespace(
                node: node.name, kind: node.kind.rawValue, name: node.namespace, exists: probe != nil,
                dataAddress: node.dataAddress, managementAddress: node.managementAddress, forwarding: forwarding,
                routes: routes, plannedRoutes: planned.count))
            if probe == nil {
                problems.append("namespace \(node.namespace) (\(node.name)) is missing")
                continue
            }
            if forwarding == false { problems.append("\(node.name): IPv4 forwarding is off") }
            if routes < planned.count { problems.append("\(node.name): \(routes)/\(planned.count) routes present") }
            if probe?.interfaces[FabricAddressing.dataInterface]?.addresses.contains(node.dataAddress) != true {
                problems.append("\(node.name): data address \(node.dataAddress) missing on \(FabricAddressing.dataInterface)")
            }
            let i = plan.nodes.firstIndex(of: node)!
            let management = probe?.interfaces[FabricAddressing.managementInterface(node: i)]
            if management?.up != true || management?.addresses.contains(node.managementAddress) != true {
                problems.append("\(node.name): management interface \(FabricAddressing.managementInterface(node: i)) "
                    + "is not up with \(node.managementAddress)")
            }
        }

        let hubProbe = probes.get(plan.managementNamespace)
        let bridge = hubProbe?.interfaces[FabricAddressing.managementBridge]
        let ports = plan.nodes.indices.filter { i in
            let port = hubProbe?.interfaces[FabricAddressing.managementPort(node: i)]
            return port?.up == true && port?.master == FabricAddressing.managementBridge
        }.count
        let management = FabricStatus.Management(
            namespace: plan.managementNamespace, exists: hubProbe != nil,
            bridgeUp: bridge?.up == true && bridge?.addresses.contains(plan.managementAddress) == true,
            address: plan.managementAddress, ports: ports, plannedPorts: plan.nodes.count)
        if !management.exists {
            problems.append("management namespace \(plan.managementNamespace) is missing")
        } else {
            if !management.bridgeUp {
                problems.append("management bridge \(FabricAddressing.managementBridge) is not up with "
                    + plan.managementAddress)
            }
            if ports < plan.nodes.count { problems.append("management bridge has \(ports)/\(plan.nodes.count) ports up") }
        }

        var links: [FabricStatus.Link] = []
        for link in plan.links {
            let shaping = Shaping.shaping(for: link, netem: netem)
            let expected = Shaping.tcCommands(for: link.a, link: link, netem: netem).compactMap { argv in
                argv.first { ["tbf", "htb", "netem"].contains($0) }
            }
            func end(_ end: FabricPlan.LinkEnd) -> FabricStatus.LinkEnd {
                let namespace = plan.node(end.node)?.namespace ?? ""
                let found = probes.get(namespace)?.interfaces[end.interface]
                let status = FabricStatus.LinkEnd(
                    node: end.node, namespace: namespace, interface: end.interface, exists: found != nil,
                    up: found?.up ?? false, qdiscs: found?.qdiscs ?? [], expectedQdiscs: expected)
                if found == nil {
                    problems.append("link \(link.index): \(end.node)/\(end.interface) is missing")
                } else if !status.up {
                    problems.append("link \(link.index): \(end.node)/\(end.interface) is down")
                } else if !status.ok {
                    problems.append("link \(link.index): \(end.node)/\(end.interface) has qdiscs "
                        + "[\(status.qdiscs.joined(separator: ", "))], needs [\(expected.joined(separator: ", "))]")
                }
                if found != nil, found?.addresses.contains(end.host) != true {
                    problems.append("link \(link.index): \(end.node)/\(end.interface) lacks \(end.address)")
                }
                return status
            }
            links.append(FabricStatus.Link(index: link.index, a: end(link.a), b: end(link.b), rate: link.rate,
                                           latency: link.latency, jitter: link.jitter, loss: link.loss,
                                           shaping: shaping))
        }
        let stray = existing.subtracting(plan.namespaces).sorted()
        if !stray.isEmpty { problems.append("stray namespaces with the prefix: \(stray.joined(separator: ", "))") }
        return FabricStatus(name: plan.name, prefix: plan.prefix, netem: netem, namespaces: namespaces,
                            management: management, links: links, strayNamespaces: stray, problems: problems)
    }

    /// What one namespace holds: interfaces (state, addresses, bridge master, qdiscs), routes as
    /// `"<dst> <gateway> <dev>"` strings, and (switches) whether IPv4 forwarding is on.
    private struct Probe: Sendable {
        struct Interface: Sendable {
            var up: Bool
            var master: String?
            var addresses: Set<String> = []
            var qdiscs: [String] = []
        }
        var interfaces: [String: Interface] = [:]
        var routes: Set<String> = []
        var forwarding: Bool?
    }

    private static func probe(_ namespace: String, forwarding: Bool) -> Probe {
        var probe = Probe()
        for entry in json(["ip", "-n", namespace, "-j", "address", "show"]) {
            guard let name = entry["ifname"] as? String else { continue }
            let flags = entry["flags"] as? [String] ?? []
            let operstate = entry["operstate"] as? String ?? ""
            // Up with carrier. operstate alone is not enough: lo and bridges may report UNKNOWN.
            let up = flags.contains("UP") && flags.contains("LOWER_UP") && operstate != "DOWN"
            var interface = Probe.Interface(up: up, master: entry["master"] as? String)
            for info in entry["addr_info"] as? [[String: Any]] ?? [] {
                if let local = info["local"] as? String { interface.addresses.insert(local) }
            }
            probe.interfaces[name] = interface
        }
        for entry in json(["tc", "-n", namespace, "-j", "qdisc", "show"]) {
            guard let dev = entry["dev"] as? String, let kind = entry["kind"] as? String else { continue }
            if entry["root"] as? Bool == true {
                probe.interfaces[dev]?.qdiscs.insert(kind, at: 0)
            } else {
                probe.interfaces[dev]?.qdiscs.append(kind)
            }
        }
        for entry in json(["ip", "-n", namespace, "-j", "-4", "route", "show"]) {
            guard let dst = entry["dst"] as? String, let gateway = entry["gateway"] as? String,
                  let dev = entry["dev"] as? String else { continue }
            probe.routes.insert("\(dst) \(gateway) \(dev)")
        }
        if forwarding {
            let output = try? CommandRunner.run(["ip", "netns", "exec", namespace, "sysctl", "-n", "net.ipv4.ip_forward"])
            probe.forwarding = output?.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "1"
        }
        return probe
    }

    /// A command's JSON array output, empty when it fails (a missing piece shows up as a problem).
    private static func json(_ argv: [String]) -> [[String: Any]] {
        guard let output = try? CommandRunner.run(argv), output.status == 0,
              let value = try? JSONSerialization.jsonObject(with: Data(output.stdout.utf8)) else { return [] }
        return value as? [[String: Any]] ?? []
    }

    /// Probes gathered by concurrent workers.
    private final class Probes: @unchecked Sendable {
        private let lock = NSLock()
        private var byNamespace: [String: Probe] = [:]
        func set(_ namespace: String, _ probe: Probe) { lock.withLock { byNamespace[namespace] = probe } }
        func get(_ namespace: String) -> Probe? { lock.withLock { byNamespace[namespace] } }
    }

    // MARK: - exec

    /// argv that runs `command` inside `node`'s namespace (`ip netns exec <ns> ...`), for the launcher.
    /// `argv[0]` is `ip`'s absolute path (ready for `Process.executableURL`); `ip netns exec` execs
    /// the command, so the pid, stdin and signals stay the command's. `node` is a node name; any
    /// other string (e.g. `plan.managementNamespace`) is taken as a namespace name as is.
    public func exec(in node: String, _ command: [String]) -> [String] {
        let namespace = plan.node(node)?.namespace ?? node
        return [CommandRunner.resolve("ip"), "netns", "exec", namespace] + command
    }
}
