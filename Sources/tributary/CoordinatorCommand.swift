import ArgumentParser
import Coordinator
import Foundation
import Logging
import ServiceLifecycle
import TransportTCP
import TributaryCore

struct CoordinatorCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "coordinator",
        abstract: "Run the coordinator (SHARP's Aggregation Manager): registration, trees, barrier, validation.")

    @Option(help: "Topology file (YAML).")
    var config: String = "Configs/default.yaml"

    @Option(help: "Control-plane address (host:port; port 0 picks a free one).")
    var listen: Endpoint = Endpoint(host: "127.0.0.1", port: 0)

    @Option(help: "Write the fabric's endpoint (JSON: address, client key file) to this file once ready.")
    var endpointFile: String?

    @Option(help: "The client key file to name in the endpoint file (`serve` writes it beside the secret).")
    var clientKeyFile: String?

    @Option(help: "Write each job's summary (JSON) as <dir>/<job name>.json when it ends.")
    var summaryDir: String?

    @Option(help: "A job the switches cannot hold now: queue (wait for resources), ring (run on the host ring, saying why) or refuse.")
    var admissionPolicy: AdmissionPolicy = .ring

    @OptionGroup var keys: DaemonKeyOptions

    @Option(help: "Largest chunk size (the tree's smallest slot caps it).")
    var chunk: ByteSize = ByteSize(256 << 10)

    @Option(help: "Largest window of chunks in flight per worker (the smallest slot pool caps it).")
    var window: Int = 16

    @OptionGroup var lowLatency: LowLatencyOption

    @Flag(help: "Serve one job, then shut the registered daemons down and exit (non-zero if it failed).")
    var exitWhenDone = false

    @Option(help: "Write the job summary (JSON) here when the job ends.")
    var summary: String?

    @Option(help: "Seconds a job may take to assemble (ranks, aggregators, readiness) before it fails.")
    var assemblyTimeout: Int = 60

    @Option(help: "Fabric state from `tributary fabric up`: link profiles for distance-aware windows.")
    var fabricState: String?

    @Option(help: "aware: size windows from the longest path's bandwidth-delay product; fixed: use --window.")
    var windowMode: WindowMode = .aware

    @Option(help: "Seconds a job waits for the aggregators its tree needs; then the tree is built without them (they only forward), or the job runs on the host ring. Default: wait until the assembly timeout.")
    var aggregatorWait: Double?

    @OptionGroup var common: CommonOptions
    @OptionGroup var metrics: MetricsOptions
    @OptionGroup var recovery: RecoveryOptions

    func validate() throws {
        guard window > 0 else { throw ValidationError("--window must be positive") }
        guard chunk.bytes >= 8 else { throw ValidationError("--chunk must be at least 8 bytes") }
        if let wait = aggregatorWait, !(wait >= 0 && wait <= 86_400) {
            throw ValidationError("--aggregator-wait takes 0 to 86400 seconds")
        }
    }

    func run() async throws {
        ParentWatch.startIfRequested()
        ProcessTuning.apply()
        let logger = common.makeLogger("tributary.coordinator")
        let topology = try loadTopology(config, command: "coordinator")
        let credentials = try keys.credentials()
        let transport = TCPTransport(localName: "coordinator")
        var configuration = CoordinatorConfiguration(
            listen: listen, topology: topology, credentials: credentials, chunkBytes: chunk.bytes, window: window,
            exitWhenDone: exitWhenDone, assemblyTimeout: .seconds(assemblyTimeout), summaryPath: summary)
        configuration.distanceAware = windowMode == .aware
        configuration.lowLatencyBytes = lowLatency.bytes
        configuration.summaryDirectory = summaryDir
        configuration.admissionPolicy = admissionPolicy
        configuration.aggregatorWait = aggregatorWait.map { .milliseconds(Int($0 * 1000)) }
        if let silence = recovery.switchSilence { configuration.switchSilence = .milliseconds(Int(silence * 1000)) }
        let served = try await metrics.start("coordinator")
        defer { if let served { Task { await served.server.close() } } }
        configuration.metricsFactory = served?.metrics.factory
        if let summaryDir {
            try FileManager.default.createDirectory(atPath: summaryDir, withIntermediateDirectories: true,
                                                    attributes: [.posixPermissions: 0o700])
        }
        if let fabricState {
            let state = try FabricState.load(fabricState)
            configuration.pathProfile = { from, to in
                state.plan.path(from: from, to: to).map { (latency: $0.latency, rate: $0.rate) }
            }
        }
        let coordinator = try Coordinator(configuration: configuration, transport: transport, logger: logger)
        let endpoint = try await coordinator.start()
        print("tributary coordinator listening on \(endpoint)")
        fflush(nil)
        if let endpointFile {
            try writeJSONAtomically(FabricEndpoint(coordinator: endpoint, clientKeyFile: clientKeyFile ?? "",
                                                   topology: topology.name, pid: getpid()), to: endpointFile)
        }
        let service = CoordinatorService(coordinator: coordinator)
        let group = ServiceGroup(configuration: .init(services: [.init(service: service, successTerminationBehavior: .gracefullyShutdownGroup)], gracefulShutdownSignals: [.sigterm, .sigint],
                                                      logger: logger))
        try await group.run()
        let summaries = await service.result.value
        await transport.shutdown()
        if exitWhenDone && !(summaries.last?.succeeded ?? false) { throw ExitCode(1) }
    }
}

/// Runs the coordinator under ServiceLifecycle so SIGTERM stops it gracefully.
final class CoordinatorService: Service, @unchecked Sendable {
    let coordinator: Coordinator
    let result = ResultBox()

    init(coordinator: Coordinator) { self.coordinator = coordinator }

    func run() async throws {
        let summaries = await withGracefulShutdownHandler {
            await coordinator.run()
        } onGracefulShutdown: { [coordinator] in
            Task { await coordinator.requestExit() }
        }
        await result.set(summaries)
    }
}

actor ResultBox {
    private var summaries: [JobSummary] = []
    func set(_ s: [JobSummary]) { summaries = s }
    var value: [JobSummary] { summaries }
}

enum WindowMode: String, ExpressibleByArgument, CaseIterable, Sendable {
    case aware, fixed
}

extension AdmissionPolicy: ExpressibleByArgument {}
