import ArgumentParser
import Foundation
import TributaryCore

/// `tributary serve`: the fabric as infrastructure (SHARP's Aggregation Manager and switches stay
/// up): the coordinator and one aggregator per aggregating switch serve jobs of any number of
/// tenants until stopped. Clients attach through the endpoint file.
struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Run a long-lived fabric: coordinator and aggregators serving jobs until SIGTERM/SIGINT.",
        discussion: """
            Jobs attach with the endpoint file: `TRIBUTARY_FABRIC=<file> TRIBUTARY_JOB_SECRET=<secret> tributary \
            worker --rank R --size N --job NAME`; `tributary jobs --fabric-endpoint <file>` lists them. The keys in \
            the state directory are readable only by this user (docs/SECURITY.md).
            """)

    @Option(help: "Topology file (YAML).")
    var config: String = "Configs/default.yaml"

    @Option(help: "Write the fabric's endpoint here (JSON: coordinator address, client key file).")
    var endpointFile: String?

    @Option(help: "Directory for keys, logs and job summaries (default: a new private one under /tmp).")
    var stateDir: String?

    @Option(help: "Switches to run aggregators for, comma separated (default: every aggregating switch).")
    var switches: String?

    @Option(help: "Control-plane address of the coordinator (port 0 picks one).")
    var listen: Endpoint = Endpoint(host: "127.0.0.1", port: 0)

    @Option(help: "Address aggregators listen on for data.")
    var aggregatorAddress: String = "127.0.0.1"

    @Option(help: "A job the switches cannot hold now: queue, ring (host ring with the reason) or refuse.")
    var admissionPolicy: AdmissionPolicy = .ring

    @Option(help: "Largest chunk size (the tree's smallest slot caps it).")
    var chunk: ByteSize = ByteSize(256 << 10)

    @Option(help: "Largest window of chunks in flight per worker.")
    var window: Int = 16

    @Option(help: "Seconds a job may take to assemble (or wait in the queue) before it fails naming who is missing.")
    var assemblyTimeout: Int = 60

    @Flag(help: "Run every daemon in its switch's namespace of the emulated fabric (as root).")
    var fabric = false

    @Option(help: "Address every daemon serves its Prometheus metrics on (each picks a free port; the URLs are printed).")
    var metricsAddress: String = "127.0.0.1"

    @Flag(help: "Serve no metrics.")
    var noMetrics = false

    @Option(help: "Seconds a job waits for an aggregator its tree needs (one that died and is restarting); then its tree is built without that switch, which only forwards.")
    var aggregatorWait: Double = 3

    @Option(help: "Seconds a switch waits for a child's chunk or its parent's result before it reports the stall (the job then fails, naming the cause).")
    var stallTimeout: Int = 30

    func validate() throws {
        guard stallTimeout >= 1 && stallTimeout <= 86_400 else { throw ValidationError("--stall-timeout takes 1 to 86400 seconds") }
    }

    @OptionGroup var common: CommonOptions
    @OptionGroup var tracing: TraceOptions
    @OptionGroup var faultOptions: FaultOptions
    @OptionGroup var recovery: RecoveryOptions
    @OptionGroup var lowLatency: LowLatencyOption

    func run() async throws {
        lineBufferStandardOutput()
        ParentWatch.startIfRequested()
        let topology = try loadTopology(config, command: "serve")
        let served = try servedSwitches(topology)
        let faults = try faultOptions.plan(topology: topology, aggregators: served, worldSize: nil)
        let (transport, transportReason) = try ClusterRunner.resolveTransport(
            common.transport, fabric: fabric, aggregatorAddress: aggregatorAddress, workerAddress: aggregatorAddress)
        let directory = try FabricServer.claimDirectory(stateDir, prefix: "tributary-serve").path
        let session = fabric ? try FabricSession(config: config, topology: topology, keep: false) : nil
        defer { session?.close() }
        var server = FabricServer(
            config: config, topology: topology, switches: served, directory: directory,
            transportArguments: common.childTransportArguments(transport, reason: transportReason),
            logLevel: common.logLevel.rawValue, chunkBytes: chunk.bytes, window: window,
            assemblyTimeout: assemblyTimeout)
        server.admissionPolicy = admissionPolicy
        server.lowLatencyBytes = lowLatency.bytes
        server.aggregatorAddress = aggregatorAddress
        server.coordinatorListen = "\(listen)"
        server.fabric = session.map { ($0.state, $0.path) }
        server.metricsAddress = noMetrics ? nil : metricsAddress
        server.stallTimeout = stallTimeout
        server.aggregatorWait = aggregatorWait
        server.traceDirectory = try tracing.childDirectory(in: directory)
        server.faults = faults
        server.recovery = recovery
        if let faults {
            print(faults)
            if faults.faults.contains(where: { if case .rank = $0.target { true } else { $0.kind.touchesFrames } }) {
                print("faults: serve's aggregators apply the kills, hangs and frames of their switches; slow ranks and "
                      + "frames a host sends apply to workers started with the same --faults (and --host)")
            }
        }
        let supervisor = ProcessSupervisor(executable: selfExecutable(), logDirectory: directory)
        let signals = SignalWatcher()
        defer { supervisor.stopAll() }
        let running = try server.start(supervisor: supervisor)
        // Ready when every aggregator has registered: then the endpoint file appears. With --fabric
        // the coordinator is reachable only inside the fabric's management network, so the check
        // runs there as `tributary jobs`.
        let client = FabricClient(coordinator: running.endpoint.coordinator, key: running.clientKey)
        let management = session.map { FabricServer.inNamespace($0.state.plan.managementNamespace) }
        let deadline = ContinuousClock.now + .seconds(30)
        var registered: [String] = []
        while ContinuousClock.now < deadline {
            let list = if let management {
                try? Self.jobListInNamespace(management, endpointFile: server.coordinatorEndpointFile)
            } else {
                try? await client.jobList()
            }
            if let list {
                registered = list.switches
                if Set(served).isSubset(of: Set(registered)) { break }
            }
            if let (child, how) = supervisor.firstFailed() {
                throw ValidationError("\(child.name) \(how)\n" + supervisor.tail(child))
            }
            try await Task.sleep(for: .milliseconds(100))
        }
        let missing = served.filter { !registered.contains($0) }
        guard missing.isEmpty else {
            throw ValidationError("aggregators for \(missing.joined(separator: ", ")) did not register within 30 s; "
                                  + "see the logs in \(directory)")
        }
        var endpoint = running.endpoint
        endpoint.pid = getpid()
        let endpointPath = endpointFile ?? "\(directory)/fabric.json"
        try writeJSONAtomically(endpoint, to: endpointPath)
        defer { unlink(endpointPath) }
        print("tributary serve: fabric \(topology.name) up: coordinator \(endpoint.coordinator), "
              + "\(served.count) aggregators (\(served.joined(separator: ", "))), admission \(admissionPolicy.rawValue), "
              + "transport \(transportReason)")
        print("endpoint file: \(endpointPath)")
        print("client key: \(endpoint.clientKeyFile) (mode 0600; share it to let others attach jobs)")
        print("logs and job summaries: \(directory)")
        if server.metricsAddress != nil {
            guard let urls = server.metricsURLs(seconds: 10) else {
                throw ValidationError("the daemons did not report their metrics endpoints; see the logs in \(directory)")
            }
            let where_ = session == nil ? "" : " (inside the fabric: `ip netns exec <namespace> curl URL`)"
            print("metrics\(where_):")
            for (name, url) in urls { print("  \(name): \(url)") }
            try Data(FabricServer.scrapeConfig(urls, topology: topology.name).utf8)
                .write(to: URL(fileURLWithPath: server.scrapeConfigFile))
            print("prometheus scrape config: \(server.scrapeConfigFile)")
        }
        let inFabric = session == nil ? "" : "tributary fabric exec --config \(config) --host HOST -- "
        print("attach: TRIBUTARY_FABRIC=\(endpointPath) TRIBUTARY_JOB_SECRET=<secret> \(inFabric)tributary worker "
              + "--rank R --size N --job NAME")
        if let traceDirectory = server.traceDirectory, let file = tracing.file() {
            print("trace: merged into \(file) when serve stops; workers join it with --trace-file "
                  + "\(traceDirectory)/worker-NAME-R.json")
        }
        // A dead aggregator is restarted (after a second, at most 5 times a minute per switch): it
        // registers again and serves new jobs; jobs meanwhile build their trees without it.
        var handled: Set<Int32> = []
        var restarts: [String: [Date]] = [:]
        var pendingRestart: [String: Date] = [:]
        while true {
            if let signal = signals.received {
                print("tributary serve: signal \(signal): stopping \(supervisor.children.count) processes")
                break
            }
            if !running.coordinator.process.isRunning {
                writeStderr("tributary serve: coordinator \(supervisor.describeExit(running.coordinator.process))\n"
                            + supervisor.tail(running.coordinator))
                throw ExitCode(1)
            }
            for child in supervisor.children where child.name.hasPrefix("aggregator-") && !child.process.isRunning
                && !handled.contains(child.process.processIdentifier) {
                handled.insert(child.process.processIdentifier)
                let name = String(child.name.dropFirst("aggregator-".count))
                let recent = (restarts[name] ?? []).filter { $0 > Date().addingTimeInterval(-60) }
                restarts[name] = recent
                let plan = recent.count < 5 ? "restarting it in 1 s" : "not restarting it (5 restarts in the last minute)"
                writeStderr("tributary serve: \(child.name) (pid \(child.process.processIdentifier)) "
                            + "\(supervisor.describeExit(child.process)); jobs whose trees use it fail, naming it; \(plan)\n"
                            + supervisor.tail(child))
                if recent.count < 5 { pendingRestart[name] = Date().addingTimeInterval(1) }
            }
            for (name, when) in pendingRestart where when <= Date() {
                pendingRestart.removeValue(forKey: name)
                restarts[name, default: []].append(Date())
                do {
                    let child = try server.startAggregator(name, coordinator: running.endpoint.coordinator,
                                                           supervisor: supervisor, restart: restarts[name]!.count)
                    print("tributary serve: aggregator \(name) restarted (pid \(child.process.processIdentifier))")
                } catch {
                    writeStderr("tributary serve: cannot restart aggregator \(name): \(error)")
                }
            }
            try await Task.sleep(for: .milliseconds(100))
        }
        supervisor.stopAll()
        tracing.merge(server.traceDirectory, command: "serve")
        print("tributary serve: stopped")
    }

    /// `tributary jobs --json` run through `wrapper` (a namespace), decoded.
    private static func jobListInNamespace(_ wrapper: [String], endpointFile: String) throws -> JobList {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: wrapper[0])
        process.arguments = Array(wrapper.dropFirst()) + [selfExecutable(), "jobs", "--json", "--fabric-endpoint",
                                                          endpointFile]
        let output = Pipe()
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return try JSONDecoder().decode(JobList.self, from: data)
    }

    private func servedSwitches(_ topology: Topology) throws -> [String] {
        let aggregating = topology.aggregatingSwitches.map(\.name)
        guard let switches else { return aggregating }
        let names = switches.split(separator: ",").map { String($0).trimmingCharacters(in: .whitespaces) }
        for name in names where !aggregating.contains(name) {
            throw ValidationError("--switches: \(name) is not an aggregating switch of \(topology.name)")
        }
        return names
    }
}

/// `tributary jobs`: the jobs on a running fabric (`--json` for scripts).
struct JobsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "jobs", abstract: "List the jobs on a running fabric (`tributary serve`).")

    @OptionGroup var access: ClientOptions

    @Flag(help: "Print the job list as JSON.")
    var json = false

    func run() async throws {
        let (coordinator, key) = try access.resolve()
        let list: JobList
        do {
            list = try await FabricClient(coordinator: coordinator, key: key).jobList()
        } catch {
            writeStderr("tributary jobs: \(error)")
            throw ExitCode(1)
        }
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            print(String(decoding: try encoder.encode(list), as: UTF8.self))
            return
        }
        print("fabric \(list.topology): \(list.switches.count) aggregators registered (\(list.switches.joined(separator: ", "))); "
              + "\(list.jobs.count) jobs, \(list.ended) ended")
        guard !list.jobs.isEmpty else { return }
        func pad(_ text: String, _ width: Int) -> String {
            text.count >= width ? text : text + String(repeating: " ", count: width - text.count)
        }
        print(pad("id", 11) + pad("name", 21) + pad("ranks", 8) + pad("phase", 13) + pad("ops", 9) + pad("age(s)", 8)
              + "path [slots per switch]")
        for job in list.jobs {
            let slots = job.slots.keys.sorted().map { "\($0):\(job.slots[$0]!)" }.joined(separator: " ")
            print(pad("\(job.id)", 11) + pad(job.name, 21) + pad("\(job.registered)/\(job.ranks)", 8) + pad(job.phase, 13)
                  + pad("\(job.operations)", 9) + pad(String(format: "%.1f", job.seconds), 8)
                  + job.path + (slots.isEmpty ? "" : " [\(slots)]"))
        }
    }
}
