import ArgumentParser
import Authentication
import Foundation
import TributaryCore

/// The long-running part of a fabric: its keys, the coordinator and one aggregator per served
/// switch, as child processes of one supervisor. `serve` runs it until stopped; `launch` and
/// `bench` run it around their workers (serve + workers + stop).
struct FabricServer {
    var config: String
    var topology: Topology
    /// Switches to run aggregators for (serve: every aggregating switch; launch: the job's tree).
    var switches: [String]
    /// Where keys, the endpoint files, the job summaries and the logs go (created mode 0700).
    var directory: String
    var transportArguments: [String]
    var logLevel: String
    var chunkBytes: Int
    var window: Int
    var assemblyTimeout: Int
    /// The low-latency path's threshold in bytes (`--low-latency`).
    var lowLatencyBytes = StreamingParameters.defaultLowLatencyBytes
    var windowMode: WindowMode = .aware
    var admissionPolicy: AdmissionPolicy = .ring
    var aggregatorAddress = "127.0.0.1"
    var coordinatorListen = "127.0.0.1:0"
    var fabric: (state: FabricState, path: String)?
    /// Serve every daemon's metrics on this address (port chosen by each; inside the fabric, on
    /// each node's own address); nil: no metrics.
    var metricsAddress: String?
    /// Seconds an aggregator's slot (or a chunk sent to its parent) may wait before it is reported.
    var stallTimeout: Int?
    /// Seconds a job waits for an aggregator its tree needs before the tree is built without it.
    var aggregatorWait: Double?
    /// Each aggregator writes its trace into this directory (`--trace`); nil: none.
    var traceDirectory: String?
    /// Faults to inject (`--faults`): each aggregator the plan names gets it.
    var faults: FaultPlan?
    /// The coordinator's `--switch-silence` (hang detection).
    var recovery = RecoveryOptions()

    var secretFile: String { "\(directory)/fabric.secret" }
    var clientKeyFile: String { "\(directory)/client.key" }
    var coordinatorEndpointFile: String { "\(directory)/coordinator.json" }
    var summaryDirectory: String { "\(directory)/jobs" }
    var metricsDirectory: String { "\(directory)/metrics" }
    var scrapeConfigFile: String { "\(directory)/prometheus.yml" }

    /// What a child adds to serve its metrics at `address` and say where (`<name>.url`).
    func metricsArguments(_ name: String, address: String) -> [String] {
        guard metricsAddress != nil else { return [] }
        return ["--metrics-listen", "\(address):0", "--metrics-url-file", "\(metricsDirectory)/\(name).url"]
    }

    /// Aggregators past this many are refused: each is a process, and a topology for planning at
    /// scale has far more switches than one machine runs (serve a subset with `--switches`).
    static let maxAggregators = 256

    struct Running {
        let supervisor: ProcessSupervisor
        let coordinator: ProcessSupervisor.Child
        let endpoint: FabricEndpoint
        let clientKey: AuthKey
    }

    static func inNamespace(_ ns: String) -> [String] { ["/usr/sbin/ip", "netns", "exec", ns] }

    /// Where a child playing topology node `name` runs: in the fabric, in its node's namespace and
    /// listening (`listenOption`) on the node's data address; otherwise on `address`.
    static func placement(of name: String, fabric: (state: FabricState, path: String)?, listenOption: String,
                          address: String) -> (arguments: [String], wrapper: [String]) {
        guard let fabric, let node = fabric.state.plan.node(name) else {
            return ([listenOption, "\(address):0"], [])
        }
        return ([listenOption, "\(node.dataAddress):0", "--fabric-state", fabric.path, "--node", name],
                inNamespace(node.namespace))
    }

    /// Makes the keys, starts the coordinator and waits for its endpoint, then starts the aggregators.
    /// On failure every process it started is stopped and the error says which and why.
    func start(supervisor: ProcessSupervisor) throws -> Running {
        guard switches.count <= Self.maxAggregators else {
            throw ValidationError("\(switches.count) aggregating switches would each be a process; this machine runs "
                                  + "at most \(Self.maxAggregators): serve a subset with --switches")
        }
        let secret = AuthKey.random()
        do {
            try KeyFile.write(secret, to: secretFile)
            try KeyFile.write(FabricCredentials(secret: secret).clientKey, to: clientKeyFile)
        } catch {
            throw ValidationError("\(error)")
        }
        try? FileManager.default.removeItem(atPath: coordinatorEndpointFile)
        if metricsAddress != nil {
            try? FileManager.default.removeItem(atPath: metricsDirectory)
            try? FileManager.default.createDirectory(atPath: metricsDirectory, withIntermediateDirectories: true,
                                                     attributes: [.posixPermissions: 0o700])
        }
        var arguments = [
            "coordinator", "--config", config, "--endpoint-file", coordinatorEndpointFile, "--secret-file", secretFile,
            "--client-key-file", clientKeyFile, "--summary-dir", summaryDirectory, "--chunk", "\(chunkBytes)",
            "--window", "\(window)", "--low-latency", "\(lowLatencyBytes)", "--assembly-timeout", "\(assemblyTimeout)",
            "--log-level", logLevel, "--window-mode", windowMode.rawValue, "--admission-policy", admissionPolicy.rawValue,
        ] + (aggregatorWait.map { ["--aggregator-wait", "\($0)"] } ?? []) + recovery.childArguments
        var wrapper: [String] = []
        if let fabric {
            arguments += ["--listen", "\(fabric.state.plan.managementAddress):0", "--fabric-state", fabric.path]
            arguments += metricsArguments("coordinator", address: fabric.state.plan.managementAddress)
            wrapper = Self.inNamespace(fabric.state.plan.managementNamespace)
        } else {
            arguments += ["--listen", coordinatorListen]
            arguments += metricsArguments("coordinator", address: metricsAddress ?? "127.0.0.1")
        }
        let coordinator = try supervisor.start(name: "coordinator", arguments: arguments, wrapper: wrapper)
        guard let endpoint = waitForEndpoint(seconds: 30, while: { coordinator.process.isRunning }) else {
            supervisor.stopAll()
            throw ValidationError("coordinator did not start: \(supervisor.describeExit(coordinator.process))\n"
                                  + supervisor.tail(coordinator))
        }
        for name in switches { try startAggregator(name, coordinator: endpoint.coordinator, supervisor: supervisor) }
        return Running(supervisor: supervisor, coordinator: coordinator, endpoint: endpoint,
                       clientKey: FabricCredentials(secret: secret).clientKey)
    }

    /// Starts the aggregator for switch `name` (again, after `restart` earlier runs: its log is then
    /// `aggregator-<name>.<restart>.log`, so the first run's log is kept).
    @discardableResult
    func startAggregator(_ name: String, coordinator: Endpoint, supervisor: ProcessSupervisor, restart: Int = 0) throws
        -> ProcessSupervisor.Child {
        let place = Self.placement(of: name, fabric: fabric, listenOption: "--listen", address: aggregatorAddress)
        let arguments = [
            "aggregator", "--switch", name, "--coordinator", "\(coordinator)", "--log-level", logLevel,
            "--secret-file", secretFile,
        ] + transportArguments + place.arguments + (stallTimeout.map { ["--stall-timeout", "\($0)"] } ?? [])
            + faultArguments(name, restart: restart)
            + metricsArguments("aggregator-\(name)",
                               address: fabric?.state.plan.node(name)?.dataAddress ?? metricsAddress ?? "127.0.0.1")
            + TraceOptions.childArguments(traceDirectory, child: "aggregator-\(name)" + (restart == 0 ? "" : ".\(restart)"))
        return try supervisor.start(name: "aggregator-\(name)", arguments: arguments, wrapper: place.wrapper,
                                    logName: restart == 0 ? nil : "aggregator-\(name).\(restart)")
    }

    /// The plan for the aggregator of switch `name`, if it names the switch. A restarted one is
    /// spared the kills and hangs that ended its predecessor: otherwise `serve` would restart it
    /// into the same death at the next job that reaches that operation.
    private func faultArguments(_ name: String, restart: Int) -> [String] {
        guard let faults else { return [] }
        let plan = restart == 0 ? faults : faults.withoutProcessFaults(on: name)
        return FaultInjection.arguments(plan, concerned: plan.concerns(node: name))
    }

    /// Every daemon's metrics URL (name → URL), once each has written it; nil past the deadline.
    func metricsURLs(seconds: Double) -> [(name: String, url: String)]? {
        let names = ["coordinator"] + switches.map { "aggregator-\($0)" }
        let deadline = Date().addingTimeInterval(seconds)
        while true {
            let urls = names.compactMap { name -> (String, String)? in
                guard let text = try? String(contentsOfFile: "\(metricsDirectory)/\(name).url", encoding: .utf8) else {
                    return nil
                }
                return (name, text.trimmingCharacters(in: .whitespacesAndNewlines))
            }
            if urls.count == names.count { return urls.map { (name: $0.0, url: $0.1) } }
            if Date() > deadline { return nil }
            usleep(20_000)
        }
    }

    /// A Prometheus scrape configuration for these daemons: `prometheus --config.file=<it>`.
    static func scrapeConfig(_ urls: [(name: String, url: String)], topology: String) -> String {
        var lines = [
            "# Prometheus scrape configuration for the Tributary fabric \(topology) (written by tributary serve).",
            "scrape_configs:",
            "  - job_name: tributary",
            "    scrape_interval: 5s",
            "    metrics_path: /metrics",
            "    static_configs:",
        ]
        for (name, url) in urls {
            // http://host:port/metrics → host:port
            let target = url.replacingOccurrences(of: "http://", with: "").replacingOccurrences(of: "/metrics", with: "")
            lines.append("      - targets: ['\(target)']")
            lines.append("        labels: {daemon: '\(name)'}")
        }
        return lines.joined(separator: "\n") + "\n"
    }

    private func waitForEndpoint(seconds: Double, while alive: () -> Bool) -> FabricEndpoint? {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline && alive() {
            if let data = FileManager.default.contents(atPath: coordinatorEndpointFile),
               let endpoint = try? JSONDecoder().decode(FabricEndpoint.self, from: data) {
                return endpoint
            }
            usleep(20_000)
        }
        return nil
    }

    /// A private directory for one fabric or launch (mode 0700: its keys are inside), locked for
    /// as long as this process lives so a second launch cannot share it and join the first's fabric.
    static func claimDirectory(_ requested: String?, prefix: String) throws -> (path: String, lock: Int32) {
        let path = requested ?? makeTempDirectory(prefix)
        do {
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true,
                                                    attributes: [.posixPermissions: 0o700])
        } catch {
            throw ValidationError("cannot create directory \(path): \(error)")
        }
        chmod(path, 0o700)
        let lockPath = "\(path)/.lock"
        let fd = open(lockPath, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw ValidationError("cannot open \(lockPath): \(String(cString: strerror(errno)))") }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            var holder = [UInt8](repeating: 0, count: 32)
            let n = read(fd, &holder, holder.count)
            close(fd)
            let pid = n > 0 ? String(decoding: holder[..<n], as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines) : "?"
            throw ValidationError("directory \(path) is in use by another tributary process (pid \(pid)); "
                                  + "give each launch or fabric its own --log-dir")
        }
        ftruncate(fd, 0)
        let pid = Array("\(getpid())\n".utf8)
        _ = pid.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        return (path, fd)
    }

    static func makeTempDirectory(_ prefix: String) -> String {
        var template = Array("/tmp/\(prefix)-XXXXXX".utf8CString)
        let path = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
        return path.map { String(cString: $0) } ?? "/tmp/\(prefix)-\(getpid())"
    }
}
