import ArgumentParser
import Coordinator
import Foundation
import TributaryCore

struct LaunchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "launch",
        abstract: "Run a whole cluster on this machine: coordinator, one aggregator per aggregating switch of the "
            + "tree, one worker per host; validated collectives; a summary; no process left behind.")

    @Option(help: "Topology file (YAML).")
    var config: String = "Configs/default.yaml"

    @Option(help: "Number of workers (default: one per host in the topology).")
    var workers: Int?

    @Option(help: "Largest chunk size (the tree's smallest slot caps it).")
    var chunk: ByteSize = ByteSize(256 << 10)

    @Option(help: "Largest window of chunks in flight per worker.")
    var window: Int = 16

    @Option(help: "Where children's logs go (default: a new directory under /tmp).")
    var logDir: String?

    @Option(help: "Seconds before the whole run is declared hung and stopped.")
    var timeout: Int = 600

    @Option(help: "Seconds a worker waits without progress before failing (names what is missing).")
    var opTimeout: Int = 60

    @Option(help: "Write the job summary JSON here as well.")
    var summary: String?

    @OptionGroup var workload: WorkloadOptions
    @OptionGroup var common: CommonOptions

    func run() async throws {
        let topology: Topology
        do {
            topology = try Topology.load(path: config)
        } catch {
            writeStderr("tributary launch: \(error)")
            throw ExitCode(2)
        }
        let n = workers ?? topology.hosts.count
        guard n > 0, n <= topology.hosts.count else {
            throw ValidationError("--workers must be in 1...\(topology.hosts.count) for \(config)")
        }
        let tree = try TreeBuilder(topology: topology).build(hosts: Array(topology.hostNames.prefix(n)))
        let logDirectory = logDir ?? makeTempDirectory()
        try FileManager.default.createDirectory(atPath: logDirectory, withIntermediateDirectories: true)
        let executable = URL(fileURLWithPath: CommandLine.arguments[0]).standardizedFileURL.path
        let resolved = FileManager.default.fileExists(atPath: executable) ? executable
            : (Bundle.main.executablePath ?? executable)
        let supervisor = ProcessSupervisor(executable: resolved, logDirectory: logDirectory)
        let signals = SignalWatcher()
        let endpointFile = "\(logDirectory)/coordinator.endpoint"
        let summaryFile = summary ?? "\(logDirectory)/summary.json"
        try? FileManager.default.removeItem(atPath: endpointFile)
        try? FileManager.default.removeItem(atPath: summaryFile)
        print("tributary launch: \(topology.name), \(n) workers, \(tree.nodes.count) aggregators "
              + "(root \(tree.root)), transport \(common.transport.rawValue); logs in \(logDirectory)")
        let levels = common.logLevel.rawValue

        var failure: String?
        defer { supervisor.stopAll() }
        do {
            let coordinator = try supervisor.start(name: "coordinator", arguments: [
                "coordinator", "--config", config, "--listen", "127.0.0.1:0", "--endpoint-file", endpointFile,
                "--exit-when-done", "--summary", summaryFile, "--chunk", "\(chunk.bytes)", "--window", "\(window)",
                "--assembly-timeout", "\(opTimeout)", "--log-level", levels,
            ])
            guard let endpoint = waitForFile(endpointFile, seconds: 30, while: { coordinator.process.isRunning }) else {
                failure = "coordinator did not start: \(supervisor.describeExit(coordinator.process))\n"
                    + supervisor.tail(coordinator)
                throw ExitCode(1)
            }
            for name in tree.aggregatorsTopDown {
                try supervisor.start(name: "aggregator-\(name)", arguments: [
                    "aggregator", "--switch", name, "--coordinator", endpoint, "--transport", common.transport.rawValue,
                    "--log-level", levels,
                ])
            }
            for rank in 0..<n {
                try supervisor.start(name: "worker-\(rank)", arguments: [
                    "worker", "--coordinator", endpoint, "--rank", "\(rank)", "--size", "\(n)",
                    "--timeout", "\(opTimeout)", "--transport", common.transport.rawValue, "--log-level", "warning",
                ] + workload.arguments)
            }
            // Supervise: the coordinator ends the job; any other child ending first is a failure.
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
                try? await Task.sleep(for: .milliseconds(50))
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
        } catch let error as ExitCode {
            supervisor.stopAll()
            if let failure { writeStderr("tributary launch: FAILED: \(failure)") }
            throw error
        }
        supervisor.stopAll()
        var ok = failure == nil
        if let data = FileManager.default.contents(atPath: summaryFile),
           let summary = try? JSONDecoder().decode(JobSummary.self, from: data) {
            print(summary.tree)
            print(summary.render())
            ok = ok && summary.succeeded
            if let f = summary.failure, failure == nil { failure = f }
        } else if failure == nil {
            failure = "the coordinator wrote no summary (\(summaryFile))"
            ok = false
        }
        if let failure {
            writeStderr("tributary launch: FAILED: \(failure)")
        }
        print(ok ? "tributary launch: OK — every validated result bit-exact; all \(supervisor.children.count) "
                   + "processes stopped" : "tributary launch: FAILED")
        if !ok { throw ExitCode(1) }
    }

    private func makeTempDirectory() -> String {
        var template = Array("/tmp/tributary-launch-XXXXXX".utf8CString)
        let path = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
        return path.map { String(cString: $0) } ?? "/tmp/tributary-launch-\(getpid())"
    }

    private func waitForFile(_ path: String, seconds: Double, while alive: () -> Bool) -> String? {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline && alive() {
            if let text = try? String(contentsOfFile: path, encoding: .utf8),
               text.hasSuffix("\n") {
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
}

/// Turns SIGINT/SIGTERM/SIGHUP into a flag the supervision loop reads, so Ctrl-C stops the cluster
/// in order instead of killing only the launcher.
final class SignalWatcher: @unchecked Sendable {
    private let lock = NSLock()
    private var signal: Int32?
    private var sources: [DispatchSourceSignal] = []

    init() {
        for sig in [SIGINT, SIGTERM, SIGHUP] {
            Foundation.signal(sig, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: sig, queue: .global())
            source.setEventHandler { [weak self] in self?.lock.withLock { self?.signal = sig } }
            source.resume()
            sources.append(source)
        }
    }

    var received: Int32? { lock.withLock { signal } }
}
