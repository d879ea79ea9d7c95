import CoreMetrics
import NIOConcurrencyHelpers
import TributaryCore

/// The data plane's counters, from the events an aggregator or a worker emits: payload bytes per
/// link and direction, chunks folded and how long their slots waited, slots in use against each
/// job's quota, and (at workers) operations by collective, path and outcome with their latency.
///
/// Labels stay bounded: links are topology neighbours, and per-job series are destroyed when the
/// job ends, so a long-running fabric does not keep one series per job it ever served. No label
/// carries a chunk or an operation number.
public final class DataPlaneMetrics: DataPlaneObserver, @unchecked Sendable {
    /// The topology node these events happen at (`leaf0`, or a worker's host).
    public let node: String
    private let factory: any MetricsFactory
    private let state = NIOLockedValueBox(State())

    struct LinkKey: Hashable {
        var peer: String
        var sent: Bool
    }

    struct JobSeries {
        var name: String
        var folded: Counter
        var slotsInUse: Gauge
        var slotBytesInUse: Gauge
        var quota: Gauge
        var slots = 0
        var slotBytes = 0
    }

    struct OperationKey: Hashable {
        var collective: Collective
        var path: String
        var outcome: String
    }

    struct State {
        var links: [LinkKey: Counter] = [:]
        var jobs: [UInt32: JobSeries] = [:]
        var operations: [OperationKey: Counter] = [:]
        var latency: [String: Timer] = [:]
    }

    private let foldWait: Timer
    private let switchSlotsInUse: Gauge
    private let switchSlotBytesInUse: Gauge
    private let jobsInstalled: Gauge

    public init(node: String, factory: any MetricsFactory) {
        self.node = node
        self.factory = factory
        foldWait = Timer(label: "tributary_chunk_slot_wait_seconds", dimensions: [("node", node)], factory: factory)
        switchSlotsInUse = Gauge(label: "tributary_slots_in_use", dimensions: [("node", node)], factory: factory)
        switchSlotBytesInUse = Gauge(label: "tributary_slot_bytes_in_use", dimensions: [("node", node)],
                                     factory: factory)
        jobsInstalled = Gauge(label: "tributary_jobs_installed", dimensions: [("node", node)], factory: factory)
    }

    public func observe(_ event: DataPlaneEvent) {
        switch event {
        case .chunkArrived(_, _, _, let from, let bytes), .resultArrived(_, _, _, let from, let bytes):
            link(from, sent: false).increment(by: Int64(bytes))
        case .chunkSent(_, _, _, let to, _, let bytes):
            link(to, sent: true).increment(by: Int64(bytes))
        case .chunkFolded(let job, _, _, _, let waited):
            foldWait.recordNanoseconds(Int64(clamping: waited))
            state.withLockedValue { $0.jobs[job]?.folded }?.increment()
        case .slotsInUse(let job, let slots, let slotBytes):
            let totals: (Int, Int) = state.withLockedValue { s in
                s.jobs[job]?.slots = slots
                s.jobs[job]?.slotBytes = slotBytes
                s.jobs[job].map {
                    $0.slotsInUse.record(slots)
                    $0.slotBytesInUse.record(slotBytes)
                }
                return s.jobs.values.reduce((0, 0)) { ($0.0 + $1.slots, $0.1 + $1.slotBytes) }
            }
            switchSlotsInUse.record(totals.0)
            switchSlotBytesInUse.record(totals.1)
        case .jobInstalled(let job, let name, let slots, _):
            let dimensions = [("node", node), ("job", name)]
            let series = JobSeries(
                name: name,
                folded: Counter(label: "tributary_chunks_folded_total", dimensions: dimensions, factory: factory),
                slotsInUse: Gauge(label: "tributary_job_slots_in_use", dimensions: dimensions, factory: factory),
                slotBytesInUse: Gauge(label: "tributary_job_slot_bytes_in_use", dimensions: dimensions,
                                      factory: factory),
                quota: Gauge(label: "tributary_job_slot_quota", dimensions: dimensions, factory: factory))
            series.quota.record(slots)
            series.slotsInUse.record(0)
            series.slotBytesInUse.record(0)
            let count = state.withLockedValue { s in
                s.jobs[job] = series
                return s.jobs.count
            }
            jobsInstalled.record(count)
        case .jobEnded(let job):
            let (ended, count, totals): (JobSeries?, Int, (Int, Int)) = state.withLockedValue { s in
                let ended = s.jobs.removeValue(forKey: job)
                return (ended, s.jobs.count, s.jobs.values.reduce((0, 0)) { ($0.0 + $1.slots, $0.1 + $1.slotBytes) })
            }
            if let ended {
                ended.folded.destroy()
                ended.slotsInUse.destroy()
                ended.slotBytesInUse.destroy()
                ended.quota.destroy()
            }
            jobsInstalled.record(count)
            switchSlotsInUse.record(totals.0)
            switchSlotBytesInUse.record(totals.1)
        case .operationStarted:
            break
        case .operationEnded(_, _, _, let collective, let algorithm, let seconds, _, _, let failure):
            let path = algorithm == .inNetwork ? "in-network" : "ring"
            operations(collective, path: path, outcome: failure == nil ? "completed" : "failed").increment()
            if failure == nil { latency(path: path).recordNanoseconds(Int64(seconds * 1e9)) }
        }
    }

    private func link(_ peer: String, sent: Bool) -> Counter {
        let key = LinkKey(peer: peer, sent: sent)
        return state.withLockedValue { s in
            if let counter = s.links[key] { return counter }
            let counter = Counter(label: "tributary_link_payload_bytes_total",
                                  dimensions: [("node", node), ("peer", peer), ("direction", sent ? "sent" : "received")],
                                  factory: factory)
            s.links[key] = counter
            return counter
        }
    }

    private func operations(_ collective: Collective, path: String, outcome: String) -> Counter {
        let key = OperationKey(collective: collective, path: path, outcome: outcome)
        return state.withLockedValue { s in
            if let counter = s.operations[key] { return counter }
            let counter = Counter(label: "tributary_rank_operations_total",
                                  dimensions: [("node", node), ("collective", collective.description), ("path", path),
                                               ("outcome", outcome)],
                                  factory: factory)
            s.operations[key] = counter
            return counter
        }
    }

    private func latency(path: String) -> Timer {
        state.withLockedValue { s in
            if let timer = s.latency[path] { return timer }
            let timer = Timer(label: "tributary_rank_operation_seconds", dimensions: [("node", node), ("path", path)],
                              factory: factory)
            s.latency[path] = timer
            return timer
        }
    }
}
