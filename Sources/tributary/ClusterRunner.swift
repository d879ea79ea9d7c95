import ArgumentParser
import Authentication
import Coordinator
import Foundation
import TributaryCore

/// Starts a whole cluster as local processes (coordinator, one aggregator per switch of the tree,
/// one worker per rank), supervises it, and stops every process whatever happens. Shared by
/// `launch` and `bench`, which differ only in the workload they hand the workers.
struct ClusterRunner {
    var config: String
    var topology: Topology
    var workers: Int
    /// `CommonOptions.childTransportArguments` of the resolved transport (`resolveTransport`): every
    /// child gets the same transport, reason and RDMA settings.
    var transportArguments: [String]
    var logLevel: String
    var chunkBytes: Int
    var window: Int
    var timeout: Int
    var opTimeout: Int
    var logDirectory: String
    var summaryFile: String
    var workerArguments: [String]
    /// Run every process in its node's namespace of this fabric (nil: all on loopback).
    var fabric: (state: FabricState, path: String)?
    var windowMode: WindowMode = .aware
    /// The low-latency path's threshold in bytes (`--low-latency`).
    var lowLatencyBytes = StreamingParameters.defaultLowLatencyBytes
    /// Without a fabric: where aggregators and workers listen for data (an RDMA device's address;
    /// default loopback).
    var aggregatorAddress = "127.0.0.1"
    var workerAddress = "127.0.0.1"
    /// Called about every 50 ms while the cluster runs (progress display).
    var onTick: () -> Void = {}
    /// Every daemon and worker serves Prometheus metrics (`--metrics`); their URLs are printed.
    var metrics = false
    /// Every aggregator and worker writes its trace into this directory (`--trace`); nil: none.
    var traceDirectory: String?
    /// Faults to inject (`--faults`, checked against this run): each child the plan names gets it.
    var faults: FaultPlan?
    /// Seconds an aggregator's slot (or a chunk sent up) may wait before it reports the stall;
    /// nil: the aggregator's default.
    var stallTimeout: Int?
    /// The coordinator's `--switch-silence` (hang detection).
    var recovery = RecoveryOptions()

    struct Outcome {
        var summary: JobSummary?
        /// Every job's summary when several ran at once (job order), else just `summary`.
        var jobSummaries: [JobSummary] = []
        var failure: String?
        /// Peak resident memory (VmHWM) of every aggregator, read just before it was stopped.
        var aggregatorPeakBytes: [String: Int]
        var processes: Int
    }

    /// Resolves `auto` once for the whole cluster, so no two processes can choose differently: the
    /// fabric's namespaces hold no RDMA device; otherwise both data addresses must be served by one.
    static func resolveTransport(_ choice: TransportChoice, fabric: Bool, aggregatorAddress: String,
                                 workerAddress: String) throws -> (TransportChoice, String) {
        guard fabric else { return try choice.resolve(dataAddresses: [aggregatorAddress, workerAddress]) }
        switch choice {
        case .rdma:
            throw ValidationError("--transport rdma: the emulated fabric's namespaces have veth links and no RDMA "
                                  + "device; run --fabric over tcp (or auto)")
        default:
            return (.tcp, choice == .tcp ? "tcp (requested)" : "tcp (auto: the emulated fabric's namespaces have no RDMA device)")
        }
    }

    /// The job's name on its fabric.
    var jobName = "launch"
    /// Concurrent jobs sharing the fabric (bench --jobs): job j takes every `jobs`-th host from j,
    /// so the jobs spread over the same switches and share their links. Names `<jobName>-<j>`.
    var jobs = 1

    /// serve + workers + stop: the fabric's daemons for the tree's switches, one worker per rank,
    /// supervised until every worker has ended; then every process is stopped, whatever happened.
    func run() throws -> Outcome {
        let tree = try TreeBuilder(topology: topology).build(hosts: Array(topology.hostNames.prefix(workers)))
        let supervisor = ProcessSupervisor(executable: selfExecutable(), logDirectory: logDirectory)
        let signals = SignalWatcher()
        var server = FabricServer(
            config: config, topology: topology, switches: tree.aggregatorsTopDown, directory: logDirectory,
            transportArguments: transportArguments, logLevel: logLevel, chunkBytes: chunkBytes, window: window,
            assemblyTimeout: opTimeout)
        server.windowMode = windowMode
        server.lowLatencyBytes = lowLatencyBytes
        server.aggregatorAddress = aggregatorAddress
        server.fabric = fabric
        if metrics { server.metricsAddress = aggregatorAddress }
        server.traceDirectory = traceDirectory
        server.faults = faults
        server.stallTimeout = stallTimeout
        server.recovery = recovery
        let names = jobs == 1 ? [jobName] : (0..<jobs).map { "\(jobName)-\($0)" }
        let summaryFiles = names.map { "\(server.summaryDirectory)/\(Coordinator.fileName($0)).json" }
        for file in summaryFiles { try? FileManager.default.removeItem(atPath: file) }
        let allSummaries = { summaryFiles.allSatisfy { FileManager.default.fileExists(atPath: $0) } }
        try? FileManager.default.removeItem(atPath: summaryFile)
        var failure: String?
        var peaks: [String: Int] = [:]
        defer { supervisor.stopAll() }
        let running: FabricServer.Running
        do {
            running = try server.start(supervisor: supervisor)
        } catch {
            supervisor.stopAll()
            return Outcome(summary: nil, failure: "\(error)", aggregatorPeakBytes: [:],
                           processes: supervisor.children.count)
        }
        if metrics {
            for (name, url) in server.metricsURLs(seconds: 10) ?? [] { print("metrics: \(name) \(url)") }
            fflush(nil)
        }
        var workerChildren: [ProcessSupervisor.Child] = []
        let size = workers / jobs
        for (job, name) in names.enumerated() {
            let jobSecret = JobSecret.generate()
            for rank in 0..<size {
                let index = rank * jobs + job
                let host = tree.hosts[index]
                let place = FabricServer.placement(of: host, fabric: fabric, listenOption: "--ring-listen",
                                                   address: workerAddress)
                let child = jobs == 1 ? "worker-\(rank)" : "worker-\(job)-\(rank)"
                let arguments = [
                    "worker", "--coordinator", "\(running.endpoint.coordinator)", "--client-key-file", server.clientKeyFile,
                    "--job", name, "--rank", "\(rank)", "--size", "\(size)", "--timeout", "\(opTimeout)",
                    "--log-level", "warning", "--host", host,
                ] + transportArguments + place.arguments + workerArguments
                    + server.metricsArguments(child,
                                              address: fabric?.state.plan.node(host)?.dataAddress ?? workerAddress)
                    + TraceOptions.childArguments(traceDirectory, child: child)
                    + FaultInjection.arguments(faults, concerned: faults?.concerns(rank: rank, host: host) ?? false)
                workerChildren.append(try supervisor.start(
                    name: child, arguments: arguments,
                    wrapper: place.wrapper, environment: [JobSecret.environmentVariable: jobSecret]))
            }
        }
        // Supervise: the job is over when every worker has ended; the coordinator or a worker failing
        // first ends the run. A switch's aggregator that dies does not: the coordinator rebuilds the
        // job's tree without it (or fails the job, which its workers then show); it is named here.
        let deadline = Date().addingTimeInterval(TimeInterval(timeout))
        let aggregatorNames = Set(supervisor.children.map(\.name).filter { $0.hasPrefix("aggregator-") })
        var announced: Set<String> = []
        while true {
            if let (child, how) = supervisor.firstFailed(except: announced.union(["coordinator"])),
               aggregatorNames.contains(child.name) {
                announced.insert(child.name)
                print("lost: \(child.name) (pid \(child.process.processIdentifier)) \(how)")
                fflush(nil)
                continue
            }
            if let signal = signals.received {
                failure = "interrupted by signal \(signal); stopping every process"
                break
            }
            if workerChildren.allSatisfy({ !$0.process.isRunning }) {
                if let (child, how) = supervisor.firstFailed(except: aggregatorNames.union(["coordinator"])) {
                    failure = "\(child.name) (pid \(child.process.processIdentifier)) \(how)\n" + supervisor.tail(child)
                }
                break
            }
            if !running.coordinator.process.isRunning {
                failure = "coordinator \(supervisor.describeExit(running.coordinator.process))\n"
                    + supervisor.tail(running.coordinator)
                break
            }
            if let (child, how) = supervisor.firstFailed(except: aggregatorNames.union(["coordinator"])) {
                // Let the coordinator record the cause reported over the control plane (it closes a
                // failed job after two seconds and writes its summary).
                waitUntil(seconds: 4, allSummaries)
                failure = "\(child.name) (pid \(child.process.processIdentifier)) \(how)\n" + supervisor.tail(child)
                break
            }
            if Date() > deadline {
                failure = "timed out after \(timeout) s; see logs in \(logDirectory)"
                break
            }
            for child in supervisor.children where child.name.hasPrefix("aggregator-") {
                if let peak = peakResident(child.process.processIdentifier) {
                    peaks[String(child.name.dropFirst("aggregator-".count))] = peak
                }
            }
            onTick()
            usleep(50_000)
        }
        // The coordinator writes the summary as the last rank says done; give it a moment.
        waitUntil(seconds: 5, allSummaries)
        supervisor.stopAll()
        let summaries = summaryFiles.compactMap { file in
            FileManager.default.contents(atPath: file).flatMap { try? JSONDecoder().decode(JobSummary.self, from: $0) }
        }
        if let first = summaryFiles.first, let data = FileManager.default.contents(atPath: first) {
            try? data.write(to: URL(fileURLWithPath: summaryFile))
        }
        if summaries.count < names.count && failure == nil {
            failure = "the coordinator wrote \(summaries.count) of \(names.count) job summaries (\(server.summaryDirectory))"
        }
        if failure == nil, let f = summaries.compactMap(\.failure).first { failure = f }
        return Outcome(summary: summaries.first, jobSummaries: summaries, failure: failure, aggregatorPeakBytes: peaks,
                       processes: supervisor.children.count)
    }

    /// VmHWM of a live process, in bytes.
    private func peakResident(_ pid: Int32) -> Int? {
        guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8) else { return nil }
        for line in status.split(separator: "\n") where line.hasPrefix("VmHWM:") {
            let kb = line.split(separator: " ").compactMap { Int($0) }.first
            return kb.map { $0 * 1024 }
        }
        return nil
    }

    private func waitUntil(seconds: Double, _ condition: () -> Bool) {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline && !condition() { usleep(20_000) }
    }
}
