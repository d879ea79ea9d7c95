import ArgumentParser
import Foundation
import TributaryCore

struct TopoCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "topo",
        abstract: "Show the aggregation tree a topology yields, as text or Graphviz DOT, or draw the topology "
            + "as an SVG with each link coloured by the traffic a job's summary records.")

    @Argument(help: "Topology file (YAML).")
    var config: String

    @Option(help: "Ranks in the job (default: one per host); rank r runs on host r.")
    var ranks: Int?

    @Flag(help: "Print Graphviz DOT instead of text.")
    var dot = false

    @Option(help: ArgumentHelp(
        "Write an SVG drawing of the topology to this file: switches, hosts and links, the tree outlined.",
        discussion: "Without --summary the tree is the one --ranks would get and links are grey.",
        valueName: "file"))
    var svg: String?

    @Option(help: ArgumentHelp(
        "Colour the --svg drawing by a job's summary (`launch` writes <log-dir>/jobs/<job>.json): each link by "
            + "its utilisation over the job's operation time, the tree that ran outlined.",
        valueName: "file"))
    var summary: String?

    @Flag(help: ArgumentHelp(
        "Colour the --svg drawing by a running fabric (`tributary serve`, named by --endpoint-file or "
            + "$TRIBUTARY_FABRIC): each link by the payload bytes its switch has counted, the live jobs' trees outlined."))
    var live = false

    @Option(help: "With --live: outline only this job's tree.")
    var job: String?

    @OptionGroup var access: ClientOptions

    func validate() throws {
        if live, svg == nil { throw ValidationError("--live colours a drawing: give --svg FILE too") }
        if live, summary != nil { throw ValidationError("--live and --summary are two sources: choose one") }
        if summary != nil, svg == nil { throw ValidationError("--summary colours a drawing: give --svg FILE too") }
        if svg != nil, dot { throw ValidationError("--dot prints the tree, --svg draws it: choose one") }
        if summary != nil, ranks != nil {
            throw ValidationError("--ranks has no effect with --summary: the summary's own tree is drawn")
        }
    }

    func run() async throws {
        let topology = try loadTopology(config, command: "topo")
        if live, let svg {
            try await drawLive(topology: topology, path: svg)
            return
        }
        if let summary, let svg {
            let job = try Self.loadSummary(summary, topology: topology)
            let seconds = job.operations.map(\.seconds).reduce(0, +)
            let title = "\(topology.name): job \(job.jobName) (#\(job.job)), \(job.worldSize) ranks, "
                + "\(job.operations.count) operation\(job.operations.count == 1 ? "" : "s")"
                + (job.failure == nil ? "" : ", FAILED")
            try Self.writeHeatmap(topology: topology, loads: job.links ?? [], tree: job.treeEdges ?? [],
                                  seconds: seconds > 0 ? seconds : nil, title: title, path: svg)
            return
        }
        let n = ranks ?? topology.hosts.count
        guard n > 0, n <= topology.hosts.count else {
            throw ValidationError("--ranks must be in 1...\(topology.hosts.count) for \(config)")
        }
        let clock = ContinuousClock()
        var tree: AggregationTree?
        let elapsed = try clock.measure {
            tree = try TreeBuilder(topology: topology).build(hosts: Array(topology.hostNames.prefix(n)))
        }
        if let svg {
            try Self.writeHeatmap(topology: topology, loads: [], tree: tree!.edges, seconds: nil,
                                  title: "\(topology.name): tree for \(n) rank\(n == 1 ? "" : "s"), root \(tree!.root)",
                                  path: svg)
        } else if dot {
            print(TreeRenderer.dot(tree!, topology: topology))
        } else {
            print("topology \(topology.name): \(topology.switches.count) switches, \(topology.hosts.count) hosts, "
                  + "\(topology.links.count) links; tree built in \(elapsed)")
            print(TreeRenderer.text(tree!, topology: topology))
        }
    }

    /// The running fabric: link bytes from its switches' heartbeats (since each started), the live
    /// jobs' trees (or `--job`'s) outlined.
    private func drawLive(topology: Topology, path: String) async throws {
        let (coordinator, key) = try access.resolve()
        let status: LiveStatus
        do {
            status = try await FabricClient(coordinator: coordinator, key: key).liveStatus()
        } catch {
            writeStderr("tributary topo: \(error)")
            throw ExitCode(1)
        }
        guard status.topology == topology.name else {
            writeStderr("tributary topo: the fabric runs topology `\(status.topology)`, not `\(topology.name)`")
            throw ExitCode(2)
        }
        let shown = status.jobs.filter { job == nil || $0.name == job }
        if let job, shown.isEmpty {
            writeStderr("tributary topo: no live job named \(job) (live: \(status.jobs.map(\.name).joined(separator: ", ")))")
            throw ExitCode(2)
        }
        var edges: [[String]] = []
        for edge in shown.flatMap(\.treeEdges) where !edges.contains(edge) { edges.append(edge) }
        let title = "\(topology.name): live, \(status.jobs.count) job\(status.jobs.count == 1 ? "" : "s")"
            + (job.map { ", tree of \($0)" } ?? "") + "; bytes each switch counted since it started"
        try Self.writeHeatmap(topology: topology, loads: status.links, tree: edges, seconds: nil, title: title, path: path)
    }

    /// Draws `topology` with `loads` as link heat and `tree`'s edges outlined (`TopologyHeatmap`) into
    /// `path`. Whatever the source of the loads (a job summary now; a live fabric's counters later),
    /// the drawing is made here.
    static func writeHeatmap(topology: Topology, loads: [LinkLoad], tree: [[String]], seconds: Double?,
                             title: String, path: String) throws {
        let drawing = TopologyHeatmap.render(topology: topology, loads: loads, tree: tree, seconds: seconds,
                                             title: title)
        do {
            try drawing.write(toFile: path, atomically: true, encoding: .utf8)
        } catch {
            writeStderr("tributary topo: cannot write \(path): \(error.localizedDescription)")
            throw ExitCode(1)
        }
        let measure = seconds.map { " (utilisation over \(String(format: "%.3g", $0)) s)" } ?? ""
        print("tributary topo: drew \(topology.name) to \(path): \(topology.links.count) links, "
              + "\(loads.count) link load\(loads.count == 1 ? "" : "s")\(measure), \(tree.count) tree edges")
    }

    /// Reads a job summary the coordinator wrote, refusing one from another topology (its links would
    /// name other nodes) or one with no link data to draw.
    static func loadSummary(_ path: String, topology: Topology) throws -> JobSummary {
        func fail(_ message: String) -> ExitCode {
            writeStderr("tributary topo: \(path): \(message)")
            return ExitCode(2)
        }
        guard let data = FileManager.default.contents(atPath: path) else { throw fail("cannot read the file") }
        let job: JobSummary
        do {
            job = try JSONDecoder().decode(JobSummary.self, from: data)
        } catch {
            throw fail("not a job summary (\(error))")
        }
        if let name = job.topology, name != topology.name {
            throw fail("job \(job.jobName) ran on topology `\(name)`, not `\(topology.name)`: "
                       + "give that topology's file")
        }
        guard let links = job.links else {
            throw fail("job \(job.jobName)'s summary carries no link data (written before summaries recorded it)")
        }
        guard !links.isEmpty else {
            throw fail("job \(job.jobName)'s summary carries no link data: no operation completed"
                       + (job.failure.map { " (it failed: \($0))" } ?? ""))
        }
        return job
    }
}
