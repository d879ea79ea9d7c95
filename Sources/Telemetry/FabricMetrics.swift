import CoreMetrics
import Prometheus

/// One process's metrics: a Prometheus registry and the swift-metrics factory that fills it. Each
/// daemon has its own (not the process-global `MetricsSystem`), so tests that run several daemons
/// in one process still see each daemon's own counters.
public struct FabricMetrics: Sendable {
    public let registry: PrometheusCollectorRegistry
    public let factory: PrometheusMetricsFactory

    /// Buckets for the latencies the fabric measures: from a slot that waited 10 µs to an
    /// operation that took a minute.
    public static let latencyBuckets: [Duration] = [
        .microseconds(10), .microseconds(25), .microseconds(50), .microseconds(100), .microseconds(250),
        .microseconds(500), .milliseconds(1), .milliseconds(2.5), .milliseconds(5), .milliseconds(10),
        .milliseconds(25), .milliseconds(50), .milliseconds(100), .milliseconds(250), .milliseconds(500), .seconds(1),
        .seconds(2.5), .seconds(5), .seconds(10), .seconds(30), .seconds(60),
    ]

    public init() {
        registry = PrometheusCollectorRegistry()
        var factory = PrometheusMetricsFactory(registry: registry)
        factory.defaultDurationHistogramBuckets = Self.latencyBuckets
        self.factory = factory
    }
}
