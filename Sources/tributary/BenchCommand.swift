import ArgumentParser
import Bench
import Foundation
import TributaryCore

/// nccl-tests for the emulated fabric: a size sweep of allreduce, reduce-scatter or all-gather
/// through the switch tree and/or the host ring, with every figure beside the machine limits
/// measured in the same run.
struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Benchmark allreduce, reduce-scatter or all-gather like nccl-tests: in-network vs host ring, against this machine's limits.",
        discussion: """
            Columns follow nccl-tests: size is the whole vector (for reduce-scatter and all-gather, all n blocks); \
            time is the median over iterations of the slowest rank; algbw = size/time; busbw = algbw × 2(n−1)/n for \
            allreduce and × (n−1)/n for reduce-scatter and all-gather. Because in-network reduction moves each byte \
            once each way per host link while the ring moves 2(n−1)/n, the payload bytes each rank actually sent and \
            received are printed too.
            """)

    @Option(name: .short, help: "Smallest size in bytes (e.g. 8, 1K).") var b: ByteSize = ByteSize(8)
    @Option(name: .short, help: "Largest size in bytes (e.g. 64M).") var e: ByteSize = ByteSize(64 << 20)
    @Option(name: .short, help: "Multiplication factor between sizes.") var f: Int = 4
    @Option(name: .short, help: "Measured iterations per size.") var n: Int = 5
    @Option(name: .short, help: "Warm-up iterations per size (not measured).") var w: Int = 1
    @Option(name: .short, help: "Check: 1 validates every measured iteration bit-exact, 0 none.") var c: Int = 1
    @Option(name: .short, help: "Element type.") var d: DType = .f32
    @Option(name: .short, help: "Reduction.") var o: ReduceOp = .sum
    @Option(help: "Collective: allreduce, reduce-scatter or all-gather.") var collective: Collective = .allreduce
    @Option(name: .customShort("J"), help: "Write results as JSON to this file.") var json: String?
    @Option(help: "Topology file.") var config: String = "Configs/default.yaml"
    @Flag(inversion: .prefixedNo, help: "Workers register their buffers with the data transport once (zero-copy sends over RDMA).")
    var registerBuffers = true
    @Option(help: "Workers (default: one per host).") var workers: Int?
    @Option(help: "Concurrent jobs sharing the fabric (the workers split among them, interleaved over the hosts, so they share switches and links); reports each job's bandwidth and the fairness between them.")
    var jobs: Int = 1
    @Option(help: "innetwork, ring or both.") var algo: String = "both"
    @Option(help: "Draw bandwidth against size for every algorithm to this SVG file.") var plot: String?
    @Flag(help: "Only measure and print the machine limits.") var limits = false
    @Flag(help: "Run in the emulated fabric: a namespace per host and switch, shaped links (as root).")
    var fabric = false
    @Flag(help: "Leave the fabric up afterwards (with --fabric).") var keepFabric = false
    @Option(help: "Address aggregators listen on for data (e.g. an RDMA device's IPv4 address).")
    var aggregatorAddress: String = "127.0.0.1"
    @Option(help: "Address workers listen on for their ring peer.")
    var workerAddress: String = "127.0.0.1"
    @Option(help: "Window sizing: aware (bandwidth-delay product of the longest path), fixed (--window), or both.")
    var windowMode: String = "aware"
    @Option(help: "Largest chunk size.") var chunk: ByteSize = ByteSize(256 << 10)
    @Option(help: "Largest window of chunks in flight per worker.") var window: Int = 16
    @Option(help: "Where children's logs go.") var logDir: String?
    @Option(help: "Seconds before the whole run is declared hung.") var timeout: Int = 1800
    @Option(help: "Repeats per limit measurement (median).") var limitRepeats: Int = 5
    @Option(help: "Sizes up to this many bytes get latency percentiles (p50/p99).")
    var latencyUpTo: ByteSize = ByteSize(64 << 10)
    @Flag(help: "Every daemon and worker serves Prometheus metrics while the run lasts (the URLs are printed).")
    var metrics = false

    @Option(help: "Seconds a switch waits for a child's chunk or its parent's result before it reports the stall (default 30).")
    var stallTimeout: Int?

    @OptionGroup var common: CommonOptions
    @OptionGroup var tracing: TraceOptions
    @OptionGroup var faultOptions: FaultOptions
    @OptionGroup var recovery: RecoveryOptions
    @OptionGroup var lowLatency: LowLatencyOption

    var algorithms: [Algorithm] {
        switch algo.lowercased() {
        case "ring": return [.ring]
        case "innetwork", "in-network": return [.inNetwork]
        default: return [.inNetwork, .ring]
        }
    }

    func validate() throws {
        if let stallTimeout, !(1...86_400).contains(stallTimeout) {
            throw ValidationError("--stall-timeout takes 1 to 86400 seconds")
        }
        guard ["ring", "innetwork", "in-network", "both"].contains(algo.lowercased()) else {
            throw ValidationError("--algo must be innetwork, ring or both")
        }
        guard b.bytes >= 0, e.bytes >= b.bytes, f >= 2 || b.bytes == e.bytes else {
            throw ValidationError("need 0 ≤ -b ≤ -e and -f ≥ 2")
        }
        guard n > 0, w >= 0 else { throw ValidationError("-n must be > 0, -w ≥ 0") }
        guard o.supports(d) else { throw ValidationError("op \(o) is not defined for \(d)") }
        guard [.allreduce, .reduceScatter, .allGather].contains(collective) else {
            throw ValidationError("--collective must be allreduce, reduce-scatter or all-gather")
        }
    }

    /// Element counts of the sweep (size / element size, as nccl-tests does).
    var counts: [Int] {
        var out: [Int] = []
        var size = max(d.size, b.bytes)
        while size <= e.bytes {
            out.append(size / d.size)
            if f < 2 { break }
            size *= f
        }
        return out
    }

    func run() throws {
        lineBufferStandardOutput()
        let progress = ProgressLine()
        func measure() throws -> MeasuredLimits {
            let measured = try MeasuredLimits.measure(kernels: [(d, o), (.f32, .sum)], repeats: limitRepeats,
                                                      progress: progress)
            progress.finish()
            return measured
        }
        if limits {
            print("# limits (medians, this run): \(try measure().headline)")
            return
        }
        let topology = try loadTopology(config, command: "bench")
        let ranks = workers ?? topology.hosts.count
        guard ranks > 0, ranks <= topology.hosts.count else {
            throw ValidationError("--workers must be in 1...\(topology.hosts.count) for \(config)")
        }
        guard jobs >= 1, ranks % jobs == 0, ranks / jobs >= 1 else {
            throw ValidationError("--jobs must divide the \(ranks) workers")
        }
        let tree = try TreeBuilder(topology: topology).build(hosts: Array(topology.hostNames.prefix(ranks)))
        try MachineCapacity.checkCluster(command: "bench", workers: ranks, daemons: tree.nodes.count + 1,
                                         maxCount: e.bytes / max(1, d.size))
        // Checked before anything runs (the limits' socket sink included): a mistyped fault is no benchmark.
        let faults = try faultOptions.plan(topology: topology, aggregators: tree.aggregatorsTopDown,
                                           worldSize: ranks / jobs)
        let measured = try measure()
        let (transport, transportReason) = try ClusterRunner.resolveTransport(
            common.transport, fabric: fabric, aggregatorAddress: aggregatorAddress, workerAddress: workerAddress)
        let logDirectory = try FabricServer.claimDirectory(logDir, prefix: "tributary-bench").path
        let progressFile = "\(logDirectory)/progress"
        var workload = [
            "--counts", counts.map(String.init).joined(separator: ","), "--collectives", collective.description,
            "--dtype", d.name, "--op", o.name, "--iters", "\(n)", "--warmup", "\(w)",
            "--algos", algorithms.map(\.rawValue).joined(separator: ","), "--progress-file", progressFile,
            "--out-of-place",
        ]
        if c == 0 { workload.append("--no-check") }
        if !registerBuffers { workload.append("--no-register-buffers") }
        print("# tributary bench: \(topology.name), \(ranks) workers, tree \(tree.root) over \(tree.nodes.count) "
              + "aggregators, transport \(transportReason), \(collective) \(d) \(o), -n \(n) -w \(w) -c \(c)")
        print("# limits (medians, this run): \(measured.headline)")
        print("# logs: \(logDirectory)")
        if let faults { print("# \(faults)") }
        let session = fabric ? try FabricSession(config: config, topology: topology, keep: keepFabric) : nil
        defer { session?.close() }
        if let session {
            let links = session.state.plan.links
            let rates = Set(links.map { TopologyUnits.formatRate($0.rate) }).sorted().joined(separator: ", ")
            print("# fabric: \(links.count) links shaped (rates \(rates)); delay/jitter by "
                  + (session.state.netem ? "netem" : "the tributary data path"))
        }
        let modes: [WindowMode] = windowMode == "both" ? [.aware, .fixed] : [WindowMode(rawValue: windowMode) ?? .aware]
        var outcomes: [(WindowMode, ClusterRunner.Outcome)] = []
        for mode in modes {
            var runner = ClusterRunner(
                config: config, topology: topology, workers: ranks,
                transportArguments: common.childTransportArguments(transport, reason: transportReason),
                logLevel: common.logLevel.rawValue, chunkBytes: chunk.bytes, window: window, timeout: timeout,
                opTimeout: 120, logDirectory: logDirectory + (modes.count > 1 ? "/\(mode.rawValue)" : ""),
                summaryFile: "\(logDirectory)/summary-\(mode.rawValue).json", workerArguments: workload,
                onTick: {
                    if let text = try? String(contentsOfFile: progressFile, encoding: .utf8) {
                        progress.update("bench: " + text.trimmingCharacters(in: .whitespacesAndNewlines))
                    }
                })
            runner.fabric = session.map { ($0.state, $0.path) }
            runner.metrics = metrics
            runner.jobs = jobs
            runner.faults = faults
            runner.stallTimeout = stallTimeout
            runner.recovery = recovery
            runner.jobName = "bench"
            runner.windowMode = mode
            runner.lowLatencyBytes = lowLatency.bytes
            runner.aggregatorAddress = aggregatorAddress
            runner.workerAddress = workerAddress
            runner.traceDirectory = try tracing.childDirectory(in: runner.logDirectory)
            outcomes.append((mode, try runner.run()))
            progress.finish()
            tracing.merge(runner.traceDirectory, command: "bench", suffix: modes.count > 1 ? "-\(mode.rawValue)" : "")
        }
        var failed = false
        for (mode, outcome) in outcomes {
            guard let summary = outcome.summary else {
                writeStderr("tributary bench: FAILED (\(mode.rawValue) windows): \(outcome.failure ?? "no summary")")
                throw ExitCode(1)
            }
            if modes.count > 1 || fabric {
                print("# windows: \(mode.rawValue) — \(summary.path)")
            }
            let report = BenchReport(summary: summary, limits: measured, tree: tree, dtype: d, op: o, ranks: ranks / jobs,
                                     latencyUpTo: latencyUpTo.bytes, aggregatorPeakBytes: outcome.aggregatorPeakBytes,
                                     topology: topology, fabric: session?.state)
            if jobs > 1 {
                var reports: [BenchReport] = []
                for job in outcome.jobSummaries {
                    let r = BenchReport(summary: job, limits: measured, tree: tree, dtype: d, op: o, ranks: ranks / jobs,
                                        latencyUpTo: latencyUpTo.bytes, aggregatorPeakBytes: outcome.aggregatorPeakBytes,
                                        topology: topology, fabric: session?.state)
                    print("# job \(job.jobName) (\(ranks / jobs) ranks): \(job.path)")
                    print(r.table())
                    reports.append(r)
                }
                print(BenchReport.fairness(reports))
                if reports.contains(where: { $0.wrong > 0 }) {
                    writeStderr("tributary bench: results were not bit-exact")
                    failed = true
                }
            } else {
                print(report.table())
            }
            let suffix = modes.count > 1 ? "-\(mode.rawValue)" : ""
            if let json {
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
                let file = modes.count > 1 ? json.replacingOccurrences(of: ".json", with: "\(suffix).json") : json
                try encoder.encode(report).write(to: URL(fileURLWithPath: file))
                print("# JSON written to \(file)")
            }
            if let plot {
                let file = modes.count > 1 ? plot.replacingOccurrences(of: ".svg", with: "\(suffix).svg") : plot
                try report.svg(title: "\(topology.name): \(ranks) workers, \(d) \(o) \(collective), "
                               + "\(transport.rawValue)\(fabric ? ", fabric" : "")\(suffix)")
                    .write(toFile: file, atomically: true, encoding: .utf8)
                print("# plot written to \(file)")
            }
            if let failure = outcome.failure {
                writeStderr("tributary bench: FAILED: \(failure)")
                failed = true
            }
            if report.wrong > 0 {
                writeStderr("tributary bench: \(report.wrong) results were not bit-exact")
                failed = true
            }
        }
        if outcomes.count == 2, let a = outcomes[0].1.summary, let f = outcomes[1].1.summary {
            let big = { (s: JobSummary, alg: Algorithm) -> Double? in
                let ops = s.operations.filter { $0.measured && $0.algorithm == alg }
                guard let top = ops.map(\.count).max() else { return nil }
                let times = ops.filter { $0.count == top }.map(\.seconds).sorted()
                return times.isEmpty ? nil : times[times.count / 2]
            }
            if let ta = big(a, .inNetwork), let tf = big(f, .inNetwork), ta > 0 {
                print(String(format: "# distance-aware / fixed windows, in-network algbw at the largest size: %.2f×",
                             tf / ta))
            }
        }
        if failed { throw ExitCode(1) }
    }
}

/// One bench run's figures: rows per (algorithm, size), the limits, and ratios between them.
struct BenchReport: Codable {
    struct Row: Codable {
        var algorithm: Algorithm
        var bytes: Int
        var count: Int
        var seconds: Double
        var algbw: Double
        var busbw: Double
        var sentPerRank: Int
        var receivedPerRank: Int
        /// Payload bytes that crossed any socket per second, each byte counted once.
        var socketBytesPerSecond: Double
        var latency: LatencyStats?
        var wrong: Int
        var checked: Int
        /// In-network rows: the low-latency or the streaming protocol; nil for the host ring.
        var reductionProtocol: ReductionProtocol? = nil
    }

    var topology: String
    var ranks: Int
    var collective: Collective = .allreduce
    var dtype: DType
    var op: ReduceOp
    var transport: String
    var limits: MeasuredLimits
    var rows: [Row]
    var aggregatorPeakBytes: [String: Int]
    var slotPoolBytes: [String: Int]
    /// With the emulated fabric: rate of the host links (bits/s) and of the slowest link.
    var hostLinkRate: Double?
    var slowestLinkRate: Double?

    var wrong: Int { rows.map(\.wrong).reduce(0, +) }

    init(summary: JobSummary, limits: MeasuredLimits, tree: AggregationTree, dtype: DType, op: ReduceOp, ranks: Int,
         latencyUpTo: Int, aggregatorPeakBytes: [String: Int], topology: Topology, fabric: FabricState? = nil) {
        if fabric != nil {
            let hosts = Set(tree.hosts)
            hostLinkRate = topology.links.filter { hosts.contains($0.a) || hosts.contains($0.b) }.map(\.rate).min()
            slowestLinkRate = topology.links.map(\.rate).min()
        }
        self.topology = topology.name
        self.ranks = ranks
        self.dtype = dtype
        self.op = op
        self.limits = limits
        self.aggregatorPeakBytes = aggregatorPeakBytes
        var pools: [String: Int] = [:]
        for name in tree.nodes.keys {
            if let r = topology.switch(named: name)?.aggregation { pools[name] = r.slots * r.slotBytes }
        }
        slotPoolBytes = pools
        transport = summary.operations.first?.transport ?? "?"
        // Tree edges between aggregators carry the payload once each way, like host links.
        let edges = ranks + max(0, tree.nodes.count - 1)
        var rows: [Row] = []
        var order: [String] = []
        var groups: [String: [JobSummary.Operation]] = [:]
        for op in summary.operations where op.measured {
            let key = "\(op.algorithm.rawValue) \(op.count)"
            if groups[key] == nil { order.append(key) }
            groups[key, default: []].append(op)
        }
        let collective = summary.operations.first(where: \.measured)?.collective ?? .allreduce
        self.collective = collective
        let factor = BusBandwidth.factor(collective: "\(collective)", ranks: ranks)
        for key in order {
            let ops = groups[key]!
            let first = ops[0]
            let times = ops.map(\.seconds).sorted()
            let median = times[times.count / 2]
            let bytes = first.count * dtype.size
            let algbw = BusBandwidth.algbw(bytes: bytes, seconds: median)
            let socketBytes: Double
            switch first.algorithm {
            case .inNetwork where collective == .allreduce: socketBytes = Double(2 * edges * bytes)
            case .inNetwork:
                // Reduce-scatter and all-gather move less than a vector one way: count what the
                // host links carried (each byte once), the part measured at the ranks.
                socketBytes = Double(ranks * ((ops.map(\.bytesSentPerRank).max() ?? 0)
                                              + (ops.map(\.bytesReceivedPerRank).max() ?? 0)))
            case .ring: socketBytes = Double(ranks * (ops.map(\.bytesSentPerRank).max() ?? 0))
            }
            rows.append(Row(
                algorithm: first.algorithm, bytes: bytes, count: first.count, seconds: median, algbw: algbw,
                busbw: algbw * factor, sentPerRank: ops.map(\.bytesSentPerRank).max() ?? 0,
                receivedPerRank: ops.map(\.bytesReceivedPerRank).max() ?? 0,
                socketBytesPerSecond: median > 0 ? socketBytes / median : 0,
                latency: bytes <= latencyUpTo ? LatencyStats(seconds: ops.map(\.seconds)) : nil,
                wrong: ops.map(\.wrongRanks.count).reduce(0, +), checked: ops.filter { $0.bitExact != nil }.count,
                reductionProtocol: first.reductionProtocol))
        }
        self.rows = rows
    }

    func table() -> String {
        var out: [String] = []
        out.append("#")
        out.append("#" + pad("size", 10) + pad("count", 11) + pad("type", 6) + pad("redop", 6) + pad("algo", 10)
                   + pad("time", 11) + pad("algbw", 8) + pad("busbw", 8) + pad("sent/rank", 11)
                   + pad("recv/rank", 11) + pad("p50", 10) + pad("p99", 10) + pad("#wrong", 7))
        out.append("#" + pad("(B)", 10) + pad("(elements)", 11) + pad("", 6) + pad("", 6) + pad("", 10)
                   + pad("(us)", 11) + pad("(GB/s)", 8) + pad("(GB/s)", 8) + pad("(B)", 11) + pad("(B)", 11)
                   + pad("(us)", 10) + pad("(us)", 10) + pad("", 7))
        for r in rows {
            out.append(" " + pad("\(r.bytes)", 10) + pad("\(r.count)", 11) + pad(dtype.name, 6) + pad(op.name, 6)
                       + pad(r.algorithm.rawValue, 10) + pad(String(format: "%.1f", r.seconds * 1e6), 11)
                       + pad(String(format: "%.3f", r.algbw), 8) + pad(String(format: "%.3f", r.busbw), 8)
                       + pad("\(r.sentPerRank)", 11) + pad("\(r.receivedPerRank)", 11)
                       + pad(r.latency.map { String(format: "%.1f", $0.p50 * 1e6) } ?? "-", 10)
                       + pad(r.latency.map { String(format: "%.1f", $0.p99 * 1e6) } ?? "-", 10)
                       + pad(r.checked == 0 ? "n/a" : "\(r.wrong)", 7))
        }
        out.append("# #wrong: \(wrong) (ranks × iterations whose result differed from the host replay)")
        for proto in ReductionProtocol.allCases {
            let sizes = rows.filter { $0.reductionProtocol == proto }.map(\.bytes)
            guard let lo = sizes.min(), let hi = sizes.max() else { continue }
            out.append("# in-network \(proto): \(TopologyUnits.formatSize(lo))"
                       + (hi > lo ? " to \(TopologyUnits.formatSize(hi))" : ""))
        }
        for algorithm in Algorithm.allCases {
            let rs = rows.filter { $0.algorithm == algorithm }
            guard !rs.isEmpty else { continue }
            let avg = rs.map(\.busbw).reduce(0, +) / Double(rs.count)
            out.append(String(format: "# Avg bus bandwidth (%@): %.3f GB/s", algorithm.rawValue, avg))
        }
        if let largest = rows.map(\.bytes).max() {
            let big = rows.filter { $0.bytes == largest }
            for r in big {
                out.append(String(
                    format: "# %@ at %@: socket bytes moved %.2f GB/s = %.0f%% of raw loopback socket (%.2f GB/s)",
                    r.algorithm.rawValue, TopologyUnits.formatSize(r.bytes), r.socketBytesPerSecond / 1e9,
                    100 * r.socketBytesPerSecond / limits.socket.bytesPerSecond, limits.socket.gbps))
            }
            if let inn = big.first(where: { $0.algorithm == .inNetwork }),
               let ring = big.first(where: { $0.algorithm == .ring }), ring.algbw > 0 {
                out.append(String(format: "# in-network / ring algbw at %@: %.2f×", TopologyUnits.formatSize(largest),
                                  inn.algbw / ring.algbw))
            }
        }
        if let largest = rows.map(\.bytes).max(), let host = hostLinkRate {
            for r in rows where r.bytes == largest {
                out.append(String(format: "# %@ algbw at %@: %.1f MB/s = %.0f%% of the host link rate (%@)",
                                  r.algorithm.rawValue, TopologyUnits.formatSize(largest), r.algbw * 1e3,
                                  100 * r.algbw * 8e9 / host, TopologyUnits.formatRate(host)))
                if let slowest = slowestLinkRate, slowest < host {
                    out.append(String(format: "# %@ algbw at %@ = %.0f%% of the slowest link (%@)",
                                      r.algorithm.rawValue, TopologyUnits.formatSize(largest), 100 * r.algbw * 8e9 / slowest,
                                      TopologyUnits.formatRate(slowest)))
                }
            }
        }
        if let smallest = rows.map(\.bytes).min() {
            let small = rows.filter { $0.bytes == smallest }
            if let inn = small.first(where: { $0.algorithm == .inNetwork })?.latency,
               let ring = small.first(where: { $0.algorithm == .ring })?.latency {
                out.append(String(format: "# p50 latency at %@: in-network %.1f us, ring %.1f us", TopologyUnits.formatSize(smallest),
                                  inn.p50 * 1e6, ring.p50 * 1e6))
            }
        }
        for name in aggregatorPeakBytes.keys.sorted() {
            let peak = aggregatorPeakBytes[name]!
            let pool = slotPoolBytes[name] ?? 0
            out.append("# aggregator \(name): peak resident \(peak >> 20) MiB (slot pool \(pool >> 20) MiB)")
        }
        return out.joined(separator: "\n")
    }

    func svg(title: String) -> String {
        var series: [PlotSeries] = []
        for algorithm in Algorithm.allCases {
            let rs = rows.filter { $0.algorithm == algorithm && $0.bytes > 0 }
            guard !rs.isEmpty else { continue }
            series.append(PlotSeries(name: algorithm == .inNetwork ? "in-network algbw" : "host ring algbw",
                                     points: rs.map { (x: Double($0.bytes), y: $0.algbw) }))
        }
        return SVGPlot.render(title: title, series: series, references: [
            (label: String(format: "raw loopback socket %.2f GB/s", limits.socket.gbps), y: limits.socket.gbps),
        ])
    }

    private func pad(_ s: String, _ width: Int) -> String {
        s.count >= width ? s + " " : String(repeating: " ", count: width - s.count) + s
    }
}

extension BenchReport {
    /// How evenly concurrent jobs shared the fabric: each job's algbw at the largest size of every
    /// algorithm, their sum, and Jain's fairness index (Σx)² / (n·Σx²) — 1 when every job got the
    /// same share, 1/n when one job took everything.
    static func fairness(_ reports: [BenchReport]) -> String {
        var lines: [String] = []
        let algorithms = Set(reports.flatMap { $0.rows.map(\.algorithm) }).sorted { $0.rawValue < $1.rawValue }
        for algorithm in algorithms {
            let shares = reports.compactMap { report -> (Int, Double)? in
                let rows = report.rows.filter { $0.algorithm == algorithm }
                guard let top = rows.max(by: { $0.bytes < $1.bytes }) else { return nil }
                return (top.bytes, top.algbw)
            }
            guard shares.count == reports.count, let bytes = shares.first?.0 else { continue }
            let x = shares.map(\.1)
            let sum = x.reduce(0, +)
            let squares = x.map { $0 * $0 }.reduce(0, +)
            let jain = squares > 0 ? sum * sum / (Double(x.count) * squares) : 0
            lines.append(String(format: "# fairness, %@ at %@: algbw per job %@ GB/s, sum %.3f GB/s, Jain index %.3f",
                                algorithm.rawValue, TopologyUnits.formatSize(bytes),
                                x.map { String(format: "%.3f", $0) }.joined(separator: " / "), sum, jain))
        }
        return lines.joined(separator: "\n")
    }
}
