import ArgumentParser
import Foundation
import Telemetry
import TributaryCore

/// `--metrics-listen`: serve this process's metrics in Prometheus text format.
struct MetricsOptions: ParsableArguments {
    @Option(help: "Serve Prometheus metrics at http://HOST:PORT/metrics (port 0 picks a free one; the URL is printed).")
    var metricsListen: Endpoint?

    @Option(help: .hidden) var metricsURLFile: String?

    /// The process's registry and its HTTP endpoint, or nil when metrics were not asked for. The
    /// URL goes to standard output and, for `serve`, to `--metrics-url-file`.
    func start(_ who: String) async throws -> (metrics: FabricMetrics, server: MetricsServer)? {
        guard let listen = metricsListen else { return nil }
        let metrics = FabricMetrics()
        let server: MetricsServer
        do {
            server = try await MetricsServer.start(host: listen.host, port: listen.port, registry: metrics.registry)
        } catch {
            throw ValidationError("\(who): \(error)")
        }
        print("\(who) metrics at \(server.url)")
        fflush(nil)
        if let metricsURLFile {
            do {
                try Data((server.url + "\n").utf8).write(to: URL(fileURLWithPath: metricsURLFile + ".tmp"))
                rename(metricsURLFile + ".tmp", metricsURLFile)
            } catch {
                throw ValidationError("\(who): cannot write \(metricsURLFile): \(error)")
            }
        }
        return (metrics, server)
    }
}
