import ArgumentParser
import Authentication
import Foundation
import TributaryCore

/// `tributary mpirun`: the one command that runs an unmodified MPI program's collectives through
/// the emulated switches. It attaches to the fabric named in the environment or starts one from
/// `--config` (stopping it afterwards), preloads libtributary_mpi.so into every rank with the
/// fabric's address, a fresh job name and job secret, and runs Open MPI's `mpirun`.
struct MpirunCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mpirun",
        abstract: "Run an MPI program with its collectives through the emulated switches (Open MPI's mpirun + LD_PRELOAD).",
        discussion: """
            tributary mpirun -np 8 --config Configs/default.yaml -- ./my_mpi_program ARGS
            tributary mpirun -np 8 --config Configs/leaf-spine-fabric.yaml --fabric -- ./my_mpi_program ARGS
            With --fabric (as root) the switches run in the emulated fabric's namespaces and rank r runs in the r-th \
            host's namespace, so Tributary's traffic and MPI's own (TCP on the data addresses, no shared memory) take \
            the shaped links. Options this command does not know go to mpirun. Without --config the fabric is the running one named by \
            $TRIBUTARY_FABRIC (`tributary serve --endpoint-file`). Rank 0 prints one line at MPI_Finalize: how many \
            collectives ran in-network and which were passed to MPI, and why. libtributary_mpi.so is looked for \
            beside this executable (scripts/build-clients puts it there) or at $TRIBUTARY_MPI_LIBRARY.
            """)

    @Option(help: "Start a fabric from this topology for the run (default: attach to $TRIBUTARY_FABRIC).")
    var config: String?

    @Flag(help: "Have the fabric check every result bit for bit against its host replay (slower).")
    var validate = false

    @Flag(help: "Fail instead of running on MPI alone when the fabric cannot be reached.")
    var strict = false

    @Flag(help: "Run the switches and every rank in the emulated fabric's namespaces, on its shaped links (with --config; as root).")
    var fabric = false

    @Option(help: "Open MPI's launcher.")
    var mpirun: String = "mpirun"

    @Argument(parsing: .allUnrecognized, help: "mpirun's options, then the program and its arguments.")
    var arguments: [String] = []

    func run() async throws {
        lineBufferStandardOutput()
        guard !arguments.isEmpty else {
            throw ValidationError("no program: tributary mpirun -np N [--config FILE] -- PROGRAM ARGS")
        }
        let library = try Self.interpositionLibrary()
        if fabric {
            guard config != nil else { throw ValidationError("--fabric needs --config: the topology to emulate") }
            guard getuid() == 0 else { throw ValidationError("--fabric makes network namespaces: run it as root") }
        }
        var supervisor: ProcessSupervisor?
        var stateDirectory: String?
        // Registered before serve starts: a fabric that never comes up is stopped and its directory goes too.
        defer {
            // serve stops its switches and coordinator first (give it the time); a daemon that
            // outlives it still exits on its own (its stdin closes) and may write a last log line,
            // so the directory goes once nothing writes into it any more.
            supervisor?.stopAll(grace: 10)
            if let stateDirectory {
                for _ in 0..<20 where FileManager.default.fileExists(atPath: stateDirectory) {
                    try? FileManager.default.removeItem(atPath: stateDirectory)
                    usleep(100_000)
                }
            }
        }
        let endpointPath: String
        if let config {
            _ = try loadTopology(config, command: "mpirun")
            let directory = FabricServer.makeTempDirectory("tributary-mpirun")
            stateDirectory = directory
            endpointPath = "\(directory)/fabric.json"
            let serving = ProcessSupervisor(executable: selfExecutable(), logDirectory: directory)
            supervisor = serving
            try serving.start(name: "serve", arguments: [
                "serve", "--config", config, "--endpoint-file", endpointPath, "--state-dir", "\(directory)/fabric",
                "--no-metrics"] + (fabric ? ["--fabric"] : []))
            try await Self.waitForEndpoint(endpointPath, serve: serving)
        } else {
            guard let named = ProcessInfo.processInfo.environment[FabricEndpoint.environmentVariable] else {
                throw ValidationError("no fabric: give --config FILE to start one for this run, or set "
                                      + "$\(FabricEndpoint.environmentVariable) to a running fabric's endpoint file")
            }
            endpointPath = named
        }
        let environment = ProcessInfo.processInfo.environment
        var exported: [String: String] = [
            FabricEndpoint.environmentVariable: endpointPath,
            LaunchEnvironment.jobVariable: environment[LaunchEnvironment.jobVariable] ?? "mpirun-\(getpid())-\(Self.randomHex(4))",
            JobSecret.environmentVariable: environment[JobSecret.environmentVariable] ?? Self.randomHex(32),
        ]
        if validate { exported["TRIBUTARY_VALIDATE"] = "1" }
        if strict { exported["TRIBUTARY_MPI_STRICT"] = "1" }
        for name in ["TRIBUTARY_TIMEOUT", "TRIBUTARY_LOG_LEVEL", FabricEndpoint.clientKeyVariable] {
            if let value = environment[name] { exported[name] = value }
        }
        var launcher = [mpirun]
        if getuid() == 0 && !arguments.contains("--allow-run-as-root") { launcher.append("--allow-run-as-root") }
        // Ranks beyond the cores are the point of an emulator on one machine.
        if !arguments.contains("--oversubscribe") && !arguments.contains("--map-by") { launcher.append("--oversubscribe") }
        // mpirun's options, then (after `--`) the program and its arguments.
        let split = arguments.firstIndex(of: "--")
        let options = split.map { Array(arguments[..<$0]) } ?? []
        var program = split.map { Array(arguments[($0 + 1)...]) } ?? arguments
        launcher += options
        if fabric, let config {
            guard split != nil, !program.isEmpty else {
                throw ValidationError("--fabric: put the program after `--` (tributary mpirun --fabric … -- PROGRAM ARGS)")
            }
            // Each rank enters its host's namespace and only the program there preloads the shim;
            // MPI's own traffic goes over TCP on the data addresses (unless the user chose a BTL).
            if !options.contains(where: { $0.hasPrefix("btl") }) { launcher += FabricHostfile.openMPIOptions }
            program = [selfExecutable(), "fabric", "exec", "--config", config, "--host-of-rank", "--preload", library,
                       "--"] + program
        } else {
            // The ranks preload the shim; mpirun itself (no MPI program) does not.
            let preload = ([library] + (environment["LD_PRELOAD"].map { [$0] } ?? [])).joined(separator: ":")
            launcher += ["-x", "LD_PRELOAD=\(preload)"]
        }
        // The secret reaches the ranks through mpirun's environment, not its command line (which anyone can read).
        for name in exported.keys.sorted() { launcher += ["-x", name] }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = launcher + program
        if fabric, let config {
            // mpirun in the management namespace, where every rank's namespace reaches its PMIx server.
            process.executableURL = URL(fileURLWithPath: selfExecutable())
            process.arguments = ["fabric", "exec", "--config", config, "--launcher", "--", "/usr/bin/env"]
                + launcher + program
        }
        process.environment = environment.merging(exported) { _, new in new }
        do {
            try process.run()
        } catch {
            throw ValidationError("cannot run \(mpirun): \(error) (scripts/setup installs openmpi-bin)")
        }
        // Watched only once mpirun runs: the watcher ignores the signals it handles, and an ignored
        // signal is inherited across exec — mpirun would then ignore the very signal passed on to it.
        let signals = SignalWatcher()
        var stopAt: ContinuousClock.Instant?
        while process.isRunning {
            if stopAt == nil, let signal = signals.received {
                // mpirun is told; ranks blocked in the fabric are not in MPI's progress loop and may not
                // notice it, so the fabric this command started stops too (their operations then fail).
                // Whatever still runs after 10 s is killed: mpirun's ranks, then mpirun.
                writeStderr("tributary mpirun: signal \(signal): stopping mpirun\(supervisor == nil ? "" : " and the fabric")")
                kill(process.processIdentifier, signal)
                supervisor?.stopAll(grace: 10)
                stopAt = .now + .seconds(10)
            }
            if let stopAt, ContinuousClock.now > stopAt {
                for rank in Self.children(of: process.processIdentifier) { kill(rank, SIGKILL) }
                kill(process.processIdentifier, SIGKILL)
            }
            try await Task.sleep(for: .milliseconds(50))
        }
        process.waitUntilExit()
        if let supervisor, let (child, how) = supervisor.firstFailed() {
            writeStderr("tributary mpirun: the fabric's \(child.name) \(how)\n" + supervisor.tail(child))
        }
        if process.terminationReason == .uncaughtSignal || process.terminationStatus != 0 {
            throw ExitCode(process.terminationReason == .uncaughtSignal ? 128 + process.terminationStatus
                               : process.terminationStatus)
        }
    }

    /// libtributary_mpi.so: `$TRIBUTARY_MPI_LIBRARY`, else beside this executable.
    static func interpositionLibrary() throws -> String {
        let beside = URL(fileURLWithPath: selfExecutable()).deletingLastPathComponent()
            .appendingPathComponent("libtributary_mpi.so").path
        let path = ProcessInfo.processInfo.environment["TRIBUTARY_MPI_LIBRARY"] ?? beside
        guard FileManager.default.isReadableFile(atPath: path) else {
            throw ValidationError("no MPI interposition library at \(path): run scripts/build-clients "
                                  + "(with -c release for a release build), or set $TRIBUTARY_MPI_LIBRARY")
        }
        return path
    }

    /// Waits until `serve` has written the endpoint file (all its aggregators registered).
    static func waitForEndpoint(_ path: String, serve: ProcessSupervisor) async throws {
        let deadline = ContinuousClock.now + .seconds(60)
        while !FileManager.default.fileExists(atPath: path) {
            if let (child, how) = serve.firstFailed() {
                throw ValidationError("the fabric did not start: \(child.name) \(how)\n" + serve.tail(child))
            }
            guard ContinuousClock.now < deadline else {
                // The run's directory goes with the error: the log's last lines travel in it.
                let log = serve.children.first.map { serve.tail($0) } ?? ""
                throw ValidationError("the fabric did not come up within 60 s; serve's log ends:\n\(log)")
            }
            try await Task.sleep(for: .milliseconds(50))
        }
    }

    /// Live children of `pid` (from each process's parent field in /proc).
    static func children(of pid: Int32) -> [Int32] {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        return entries.compactMap(Int32.init).filter { candidate in
            guard let stat = try? String(contentsOfFile: "/proc/\(candidate)/stat", encoding: .utf8),
                  let close = stat.lastIndex(of: ")") else { return false }
            // After the command's closing parenthesis: state, then the parent's pid.
            let fields = stat[stat.index(after: close)...].split(separator: " ")
            return fields.count > 1 && Int32(fields[1]) == pid
        }
    }

    static func randomHex(_ bytes: Int) -> String {
        (0..<bytes).map { _ in String(format: "%02x", UInt8.random(in: 0...255)) }.joined()
    }
}
