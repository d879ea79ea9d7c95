import Aggregator
import ArgumentParser
import Foundation
import Logging
import ServiceLifecycle
import Telemetry
import TransportTCP
import TributaryCore

struct AggregatorCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "aggregator",
        abstract: "Run an aggregator daemon emulating one switch's aggregation node.")

    @Option(name: .customLong("switch"), help: "The topology switch this daemon emulates.")
    var switchName: String

    @Option(help: "The coordinator's control address (host:port).")
    var coordinator: Endpoint

    @Option(help: "Data-plane address children connect to (port 0 picks a free one).")
    var listen: Endpoint = Endpoint(host: "127.0.0.1", port: 0)

    @Option(help: "Seconds a slot may wait for a child before the missing ranks are reported.")
    var stallTimeout: Int = 30

    @OptionGroup var common: CommonOptions
    @OptionGroup var fabric: FabricOptions
    @OptionGroup var keys: DaemonKeyOptions
    @OptionGroup var metrics: MetricsOptions
    @OptionGroup var traceFile: TraceFileOptions
    @OptionGroup var faultOptions: FaultOptions

    func run() async throws {
        ParentWatch.startIfRequested()
        ProcessTuning.apply()
        let logger = common.makeLogger("tributary.aggregator.\(switchName)")
        let trace = try traceFile.start(processName: "switch \(switchName)", logger: logger)
        // Runs after the service group returns, which it does on SIGTERM (graceful shutdown) as on failure.
        defer { trace.finish() }
        guard let daemonKey = try keys.credentials().daemonKey else { throw ValidationError("no daemon key") }
        let (base, why) = try common.dataTransport(localName: "aggregator \(switchName)", dataAddress: listen.host)
        logger.info("data transport: \(why)")
        let data = try fabric.dataTransport(base: base, logger: logger)
        let control = TCPTransport(localName: "aggregator \(switchName)")
        var configuration = AggregatorConfiguration(switchName: switchName, coordinator: coordinator,
                                                    dataListen: listen, daemonKey: daemonKey,
                                                    stallTimeout: .seconds(stallTimeout))
        configuration.faults = FaultInjection.hook(try faultOptions.plan(), forSwitch: switchName)
        let served = try await metrics.start("aggregator \(switchName)")
        configuration.observer = DataPlaneObservers.combine(
            trace.observers + (served.map { [DataPlaneMetrics(node: switchName, factory: $0.metrics.factory)] } ?? []))
        let daemon = AggregatorDaemon(configuration: configuration, control: control, data: data, logger: logger)
        defer { if let served { Task { await served.server.close() } } }
        let group = ServiceGroup(configuration: .init(services: [.init(service: AggregatorService(daemon: daemon), successTerminationBehavior: .gracefullyShutdownGroup)],
                                                      gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        do {
            try await group.run()
        } catch {
            writeStderr("tributary aggregator \(switchName): \(error)")
            throw ExitCode(3)
        }
    }
}

struct AggregatorService: Service {
    let daemon: AggregatorDaemon

    func run() async throws {
        try await withGracefulShutdownHandler {
            try await daemon.run()
        } onGracefulShutdown: { [daemon] in
            Task { await daemon.stop() }
        }
    }
}
