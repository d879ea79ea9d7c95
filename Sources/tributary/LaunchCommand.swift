import ArgumentParser
import Foundation
import TributaryCore

struct LaunchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "launch",
        abstract: "Run a whole cluster on this machine: coordinator, one aggregator per aggregating switch of the "
            + "tree, one worker per host; validated collectives; a summary; no process left behind.")

    @Option(help: "Topology file (YAML).")
    var config: String = "Configs/default.yaml"

    @Option(help: "Number of workers (default: one per host in the topology).")
    var workers: Int?

    @Option(help: "Largest chunk size (the tree's smallest slot caps it).")
    var chunk: ByteSize = ByteSize(256 << 10)

    @Option(help: "Largest window of chunks in flight per worker.")
    var window: Int = 16

    @Option(help: "Where children's logs go (default: a new directory under /tmp).")
    var logDir: String?

    @Option(help: "Seconds before the whole run is declared hung and stopped.")
    var timeout: Int = 600

    @Option(help: "Seconds a worker waits without progress before failing (names what is missing).")
    var opTimeout: Int = 60

    @Option(help: "Seconds a switch waits for a child's chunk or its parent's result before it reports the stall (default 30); the job then fails naming the cause.")
    var stallTimeout: Int?

    @Option(help: "Write the job summary JSON here as well.")
    var summary: String?

    @Flag(help: "Run every process in its own network namespace of the emulated fabric (as root).")
    var fabric = false

    @Flag(help: "Leave the fabric up afterwards (with --fabric).")
    var keepFabric = false

    @Option(help: "aware: windows from the longest path's bandwidth-delay product; fixed: --window as given.")
    var windowMode: WindowMode = .aware

    @Option(help: "Address aggregators listen on for data (e.g. an RDMA device's IPv4 address).")
    var aggregatorAddress: String = "127.0.0.1"

    @Option(help: "Address workers listen on for their ring peer (e.g. a second RDMA device's address).")
    var workerAddress: String = "127.0.0.1"

    @OptionGroup var workload: WorkloadOptions
    @Flag(help: "Every daemon and worker serves Prometheus metrics while the run lasts (the URLs are printed).")
    var metrics = false

    @OptionGroup var common: CommonOptions
    @OptionGroup var tracing: TraceOptions
    @OptionGroup var faultOptions: FaultOptions
    @OptionGroup var recovery: RecoveryOptions
    @OptionGroup var lowLatency: LowLatencyOption

    func validate() throws {
        if let stallTimeout, !(1...86_400).contains(stallTimeout) {
            throw ValidationError("--stall-timeout takes 1 to 86400 seconds")
        }
    }

    func run() async throws {
        lineBufferStandardOutput()
        let topology = try loadTopology(config, command: "launch")
        let n = workers ?? topology.hosts.count
        guard n > 0, n <= topology.hosts.count else {
            throw ValidationError("--workers must be in 1...\(topology.hosts.count) for \(config)")
        }
        let tree = try TreeBuilder(topology: topology).build(hosts: Array(topology.hostNames.prefix(n)))
        try MachineCapacity.checkCluster(command: "launch", workers: n, daemons: tree.nodes.count + 1,
                                         maxCount: try workload.parsedCounts().max() ?? 0)
        let faults = try faultOptions.plan(topology: topology, aggregators: tree.aggregatorsTopDown, worldSize: n)
        let (transport, transportReason) = try ClusterRunner.resolveTransport(
            common.transport, fabric: fabric, aggregatorAddress: aggregatorAddress, workerAddress: workerAddress)
        let logDirectory = try FabricServer.claimDirectory(logDir, prefix: "tributary-launch").path
        print("tributary launch: \(topology.name), \(n) workers, \(tree.nodes.count) aggregators "
              + "(root \(tree.root)), transport \(transportReason); logs in \(logDirectory)")
        if let faults { print(faults) }
        let session = fabric ? try FabricSession(config: config, topology: topology, keep: keepFabric) : nil
        defer { session?.close() }
        var runner = ClusterRunner(
            config: config, topology: topology, workers: n,
            transportArguments: common.childTransportArguments(transport, reason: transportReason),
            logLevel: common.logLevel.rawValue, chunkBytes: chunk.bytes, window: window, timeout: timeout,
            opTimeout: opTimeout, logDirectory: logDirectory, summaryFile: summary ?? "\(logDirectory)/summary.json",
            workerArguments: workload.arguments)
        runner.fabric = session.map { ($0.state, $0.path) }
        runner.metrics = metrics
        runner.windowMode = windowMode
        runner.lowLatencyBytes = lowLatency.bytes
        runner.aggregatorAddress = aggregatorAddress
        runner.workerAddress = workerAddress
        runner.traceDirectory = try tracing.childDirectory(in: logDirectory)
        runner.faults = faults
        runner.stallTimeout = stallTimeout
        runner.recovery = recovery
        let outcome = try runner.run()
        tracing.merge(runner.traceDirectory, command: "launch")
        var ok = outcome.failure == nil
        if let summary = outcome.summary {
            print(summary.tree)
            print(summary.render())
            ok = ok && summary.succeeded
        }
        if let failure = outcome.failure {
            writeStderr("tributary launch: FAILED: \(failure)")
        }
        print(ok ? "tributary launch: OK — every validated result bit-exact; all \(outcome.processes) "
                   + "processes stopped" : "tributary launch: FAILED")
        if !ok { throw ExitCode(1) }
    }
}

/// Turns SIGINT/SIGTERM/SIGHUP into a flag the supervision loop reads, so Ctrl-C stops the cluster
/// in order instead of killing only the launcher.
final class SignalWatcher: @unchecked Sendable {
    private let lock = NSLock()
    private var signal: Int32?
    private var sources: [DispatchSourceSignal] = []

    init() {
        for sig in [SIGINT, SIGTERM, SIGHUP] {
            Foundation.signal(sig, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: sig, queue: .global())
            source.setEventHandler { [weak self] in self?.lock.withLock { self?.signal = sig } }
            source.resume()
            sources.append(source)
        }
    }

    var received: Int32? { lock.withLock { signal } }
}
