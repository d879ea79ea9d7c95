import ArgumentParser
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
    /// Without a fabric: where aggregators and workers listen for data (an RDMA device's address;
    /// default loopback).
    var aggregatorAddress = "127.0.0.1"
    var workerAddress = "127.0.0.1"
    /// Called about every 50 ms while the cluster runs (progress display).
    var onTick: () -> Void = {}

    struct Outcome {
        var summary: JobSummary?
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

    func run() throws -> Outcome {
        let tree = try TreeBuilder(topology: topology).build(hosts: Array(topology.hostNames.prefix(workers)))
        try FileManager.default.createDirectory(atPath: logDirectory, withIntermediateDirectories: true)
        let supervisor = ProcessSupervisor(executable: selfExecutable(), logDirectory: logDirectory)
        let signals = SignalWatcher()
        let endpointFile = "\(logDirectory)/coordinator.endpoint"
        try? FileManager.default.removeItem(atPath: endpointFile)
        try? FileManager.default.removeItem(atPath: summaryFile)
        var failure: String?
        var peaks: [String: Int] = [:]
        defer { supervisor.stopAll() }
        let ip = "/usr/sbin/ip"
        func inNamespace(_ ns: String) -> [String] { [ip, "netns", "exec", ns] }
        var coordinatorArguments = [
            "coordinator", "--config", config, "--endpoint-file", endpointFile,
            "--exit-when-done", "--summary", summaryFile, "--chunk", "\(chunkBytes)", "--window", "\(window)",
            "--assembly-timeout", "\(opTimeout)", "--log-level", logLevel, "--window-mode", windowMode.rawValue,
        ]
        var coordinatorWrapper: [String] = []
        if let fabric {
            coordinatorArguments += ["--listen", "\(fabric.state.plan.managementAddress):0",
                                     "--fabric-state", fabric.path]
            coordinatorWrapper = inNamespace(fabric.state.plan.managementNamespace)
        } else {
            coordinatorArguments += ["--listen", "127.0.0.1:0"]
        }
        let coordinator = try supervisor.start(name: "coordinator", arguments: coordinatorArguments,
                                               wrapper: coordinatorWrapper)
        if let endpoint = waitForFile(endpointFile, seconds: 30, while: { coordinator.process.isRunning }) {
            for name in tree.aggregatorsTopDown {
                var arguments = [
                    "aggregator", "--switch", name, "--coordinator", endpoint, "--log-level", logLevel,
                ] + transportArguments
                var wrapper: [String] = []
                if let fabric, let node = fabric.state.plan.node(name) {
                    arguments += ["--listen", "\(node.dataAddress):0", "--fabric-state", fabric.path, "--node", name]
                    wrapper = inNamespace(node.namespace)
                } else {
                    arguments += ["--listen", "\(aggregatorAddress):0"]
                }
                try supervisor.start(name: "aggregator-\(name)", arguments: arguments, wrapper: wrapper)
            }
            for rank in 0..<workers {
                let host = tree.hosts[rank]
                var arguments = [
                    "worker", "--coordinator", endpoint, "--rank", "\(rank)", "--size", "\(workers)",
                    "--timeout", "\(opTimeout)", "--log-level", "warning", "--host", host,
                ] + transportArguments
                var wrapper: [String] = []
                if let fabric, let node = fabric.state.plan.node(host) {
                    arguments += ["--ring-listen", "\(node.dataAddress):0", "--fabric-state", fabric.path,
                                  "--node", host]
                    wrapper = inNamespace(node.namespace)
                } else {
                    arguments += ["--ring-listen", "\(workerAddress):0"]
                }
                try supervisor.start(name: "worker-\(rank)", arguments: arguments + workerArguments, wrapper: wrapper)
            }
            // Supervise: the coordinator ends the job; any other child failing first ends the run.
            let deadline = Date().addingTimeInterval(TimeInterval(timeout))
            while true {
                if let signal = signals.received {
                    failure = "interrupted by signal \(signal); stopping every process"
                    break
                }
                if !coordinator.process.isRunning { break }
                if let (child, how) = supervisor.firstFailed(except: ["coordinator"]) {
                    // Let the coordinator record the cause reported over the control plane.
                    waitUntil(seconds: 3) { !coordinator.process.isRunning }
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
            if failure == nil {
                // Workers end after the coordinator's shutdown; give them a moment to exit cleanly.
                waitUntil(seconds: 10) {
                    supervisor.children.filter { $0.name.hasPrefix("worker") }.allSatisfy { !$0.process.isRunning }
                }
                if coordinator.process.terminationStatus != 0 {
                    failure = "coordinator \(supervisor.describeExit(coordinator.process))"
                }
            }
        } else {
            failure = "coordinator did not start: \(supervisor.describeExit(coordinator.process))\n"
                + supervisor.tail(coordinator)
        }
        supervisor.stopAll()
        var summary: JobSummary?
        if let data = FileManager.default.contents(atPath: summaryFile) {
            summary = try? JSONDecoder().decode(JobSummary.self, from: data)
        }
        if summary == nil && failure == nil { failure = "the coordinator wrote no summary (\(summaryFile))" }
        if failure == nil, let f = summary?.failure { failure = f }
        return Outcome(summary: summary, failure: failure, aggregatorPeakBytes: peaks,
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

    private func waitForFile(_ path: String, seconds: Double, while alive: () -> Bool) -> String? {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline && alive() {
            if let text = try? String(contentsOfFile: path, encoding: .utf8), text.hasSuffix("\n") {
                return text.trimmingCharacters(in: .whitespacesAndNewlines)
            }
            usleep(20_000)
        }
        return nil
    }

    private func waitUntil(seconds: Double, _ condition: () -> Bool) {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline && !condition() { usleep(20_000) }
    }

    static func makeTempDirectory(_ prefix: String) -> String {
        var template = Array("/tmp/\(prefix)-XXXXXX".utf8CString)
        let path = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
        return path.map { String(cString: $0) } ?? "/tmp/\(prefix)-\(getpid())"
    }
}
