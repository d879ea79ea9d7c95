import CoreMetrics
import TributaryCore

/// The coordinator's counters and gauges (swift-metrics; the CLI serves them in Prometheus format):
/// operations by job (and for the whole fabric) by collective, path and outcome with their latency; admission refusals; errors
/// by kind; connections by role; jobs by phase; slots granted per switch against its capacity.
/// A job's series are destroyed when it ends, so their number follows the live jobs.
final class CoordinatorMetrics {
    private let factory: any MetricsFactory
    private var operations: [OperationKey: Counter] = [:]
    /// The same without the job: what the fabric has done since it started.
    private var fabricOperations: [OperationKey: Counter] = [:]
    private var latency: [String: Timer] = [:]
    private var refusals: [String: Counter] = [:]
    private var errors: [String: Counter] = [:]
    private var gauges: [GaugeKey: Gauge] = [:]
    /// Operations retried (reported by ranks as run again in part or whole on a new tree) and
    /// recoveries completed (a job's tree rebuilt after a lost switch), with how long each took.
    private let retries: Counter
    private let recoveries: Counter
    private let recoverySeconds: Timer

    struct OperationKey: Hashable {
        var job: String
        var collective: Collective
        var path: String
        var outcome: String
    }

    struct GaugeKey: Hashable {
        var label: String
        var dimensions: [String]
    }

    init(factory: any MetricsFactory) {
        self.factory = factory
        retries = Counter(label: "tributary_operation_retries_total", dimensions: [], factory: factory)
        recoveries = Counter(label: "tributary_recoveries_total", dimensions: [], factory: factory)
        recoverySeconds = Timer(label: "tributary_recovery_seconds", dimensions: [], factory: factory)
    }

    /// A job's tree was rebuilt and its ranks resumed, `seconds` after the loss was noticed.
    func recovered(seconds: Double) {
        recoveries.increment()
        recoverySeconds.recordNanoseconds(Int64(seconds * 1e9))
    }

    /// An operation concluded that some rank ran again on a new tree.
    func retried() { retries.increment() }

    /// An operation concluded: `outcome` is `bit-exact`, `wrong` or `unchecked`.
    func operation(job: String, collective: Collective, path: String, outcome: String, seconds: Double) {
        let key = OperationKey(job: job, collective: collective, path: path, outcome: outcome)
        let labels = [("collective", collective.description), ("path", path), ("outcome", outcome)]
        Self.cached(&operations, key) {
            Counter(label: "tributary_operations_total", dimensions: [("job", job)] + labels, factory: factory)
        }.increment()
        Self.cached(&fabricOperations, OperationKey(job: "", collective: collective, path: path, outcome: outcome)) {
            Counter(label: "tributary_fabric_operations_total", dimensions: labels, factory: factory)
        }.increment()
        Self.cached(&latency, path) {
            Timer(label: "tributary_operation_seconds", dimensions: [("path", path)], factory: factory)
        }.recordNanoseconds(Int64(seconds * 1e9))
    }

    /// A job's operation series go with it.
    func jobEnded(_ job: String) {
        for (key, counter) in operations where key.job == job {
            counter.destroy()
            operations.removeValue(forKey: key)
        }
    }

    /// A job the switches could not hold: `outcome` is what the policy did (queued, ring, refused).
    func admissionRefused(outcome: String) {
        Self.cached(&refusals, outcome) {
            Counter(label: "tributary_admission_refusals_total", dimensions: [("outcome", outcome)], factory: factory)
        }.increment()
    }

    func error(kind: ErrorReport.Kind) {
        let name = "\(kind)"
        Self.cached(&errors, name) {
            Counter(label: "tributary_errors_total", dimensions: [("kind", name)], factory: factory)
        }.increment()
    }

    /// Sets a gauge (connections by role, jobs by phase, slots per switch).
    func gauge(_ label: String, _ dimensions: [(String, String)], _ value: Int) {
        let key = GaugeKey(label: label, dimensions: dimensions.flatMap { [$0.0, $0.1] })
        Self.cached(&gauges, key) { Gauge(label: label, dimensions: dimensions, factory: factory) }.record(value)
    }

    /// The metric for `key`, made on first use (metrics are made once per label set, then kept).
    private static func cached<Key: Hashable, Metric>(_ cache: inout [Key: Metric], _ key: Key,
                                                      _ make: () -> Metric) -> Metric {
        if let metric = cache[key] { return metric }
        let metric = make()
        cache[key] = metric
        return metric
    }
}
