import Foundation
import Testing

/// The real thing: `tributary launch` as separate OS processes on loopback over TCP.
/// Needs the built executable (`swift build` first; `scripts/test` does it).
@Suite(.serialized) struct LaunchTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    static var binary: String {
        let env = ProcessInfo.processInfo.environment["TRIBUTARY_BIN"]
        return env ?? root.appendingPathComponent(".build/debug/tributary").path
    }

    struct Run {
        var status: Int32
        var reason: Process.TerminationReason
        var stdout: String
        var stderr: String
        var output: String { stdout + stderr }
    }

    /// Starts `tributary` with `arguments`; `during` runs while it is alive.
    /// `prefix` runs it through another program (e.g. `setpriv` to drop privileges); `environment`
    /// adds variables to this process's.
    /// `executable` and `directory` replace the built binary and the checkout (a staged copy).
    static func tributary(_ arguments: [String], timeout: TimeInterval = 240, prefix: [String] = [],
                          environment: [String: String] = [:], executable: String? = nil, directory: URL? = nil,
                          keepLogs: Bool = false, during: ((Process) throws -> Void)? = nil) throws -> Run {
        let binary = executable ?? Self.binary
        guard FileManager.default.isExecutableFile(atPath: binary) else {
            throw TestFailure("no tributary executable at \(binary): run `swift build` first")
        }
        let process = Process()
        if prefix.isEmpty {
            process.executableURL = URL(fileURLWithPath: binary)
            process.arguments = arguments
        } else {
            process.executableURL = URL(fileURLWithPath: prefix[0])
            process.arguments = Array(prefix.dropFirst()) + [binary] + arguments
        }
        if !environment.isEmpty {
            process.environment = ProcessInfo.processInfo.environment.merging(environment) { _, new in new }
        }
        process.currentDirectoryURL = directory ?? root
        let out = FileManager.default.temporaryDirectory.appendingPathComponent("launch-out-\(UUID().uuidString)")
        let err = FileManager.default.temporaryDirectory.appendingPathComponent("launch-err-\(UUID().uuidString)")
        _ = FileManager.default.createFile(atPath: out.path, contents: nil)
        _ = FileManager.default.createFile(atPath: err.path, contents: nil)
        defer {
            try? FileManager.default.removeItem(at: out)
            try? FileManager.default.removeItem(at: err)
        }
        process.standardOutput = try FileHandle(forWritingTo: out)
        process.standardError = try FileHandle(forWritingTo: err)
        process.standardInput = FileHandle.nullDevice
        try process.run()
        defer {
            if process.isRunning {
                kill(process.processIdentifier, SIGKILL)
                process.waitUntilExit()
            }
        }
        try during?(process)
        let deadline = Date().addingTimeInterval(timeout)
        while process.isRunning && Date() < deadline { usleep(50_000) }
        if process.isRunning {
            throw TestFailure("tributary \(arguments.joined(separator: " ")) still running after \(timeout) s")
        }
        let run = Run(status: process.terminationStatus, reason: process.terminationReason,
                      stdout: (try? String(contentsOf: out, encoding: .utf8)) ?? "",
                      stderr: (try? String(contentsOf: err, encoding: .utf8)) ?? "")
        if !keepLogs { removeLogDirectory(named: run.output) }
        return run
    }

    /// The log directory a launch or bench made for itself (`logs in /tmp/tributary-launch-…`)
    /// goes once the test has the run's output: tests leave no files behind. A `--log-dir` the
    /// test chose is its own to remove.
    static func removeLogDirectory(named output: String) {
        // launch says `logs in DIR`, bench `# logs: DIR`.
        let pieces = output.components(separatedBy: "logs in ").dropFirst()
            + output.components(separatedBy: "# logs: ").dropFirst()
        for piece in pieces {
            guard let path = piece.split(whereSeparator: { $0 == "\n" || $0 == " " || $0 == ";" }).first.map(String.init),
                  path.hasPrefix(NSTemporaryDirectory() + "tributary-launch-")
                    || path.hasPrefix(NSTemporaryDirectory() + "tributary-bench-")
                    || path.hasPrefix("/tmp/tributary-launch-") || path.hasPrefix("/tmp/tributary-bench-") else { continue }
            try? FileManager.default.removeItem(atPath: path)
        }
    }

    /// Live child pids of `pid`, from the parent field of every /proc/<pid>/stat (a process's
    /// children are spread over the threads that spawned them, so one task's list is not enough).
    static func children(of pid: Int32) -> [Int32] {
        guard let entries = try? FileManager.default.contentsOfDirectory(atPath: "/proc") else { return [] }
        return entries.compactMap { Int32($0) }.filter { candidate in
            guard let stat = try? String(contentsOfFile: "/proc/\(candidate)/stat", encoding: .utf8),
                  let fields = stat.split(separator: ")").last?.split(separator: " "), fields.count > 2 else {
                return false
            }
            return fields[0] != "Z" && Int32(fields[1]) == pid
        }.sorted()
    }

    static func alive(_ pid: Int32) -> Bool {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8) else { return false }
        // A zombie has exited; it only waits to be reaped by its parent.
        let fields = stat.split(separator: ")").last?.split(separator: " ")
        return fields?.first != "Z"
    }

    static func waitFor(_ seconds: TimeInterval, _ condition: () -> Bool) -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if condition() { return true }
            usleep(50_000)
        }
        return condition()
    }

    @Test func eightWorkersOverTCPAreBitExact() throws {
        let run = try Self.tributary([
            "launch", "--config", "Configs/default.yaml", "--transport", "tcp", "--chunk", "4096",
            "--counts", "0,1,7,1023,1024,1025,300000", "--collectives", "allreduce,reduce,broadcast,barrier",
            "--specials",
        ])
        #expect(run.status == 0, "\(run.output)")
        #expect(run.stdout.contains("8 workers"))
        #expect(run.stdout.contains("28 operations, 28 validated against the host replay, 0 wrong"), "\(run.stdout)")
        #expect(run.stdout.contains("tributary launch: OK"))
        #expect(!run.stdout.contains("NO "))
    }

    /// `auto` says which transport it chose and why, in the banner and in every operation's report;
    /// `rdma` where there is none is refused up front, naming what is missing.
    @Test(.disabled(if: FileManager.default.fileExists(atPath: "/dev/infiniband/uverbs0"),
                    "this host has RDMA; the rxe VM run checks auto choosing it (scripts/rdma-tests)"))
    func transportChoiceIsExplained() throws {
        let auto = try Self.tributary(["launch", "--config", "Configs/two-leaves.yaml", "--counts", "1000"])
        #expect(auto.status == 0, "\(auto.output)")
        #expect(auto.stdout.contains("transport tcp (auto: "), "\(auto.stdout)")
        #expect(auto.stdout.contains("\ndata transport: tcp (auto: "), "\(auto.stdout)")
        let rdma = try Self.tributary(["launch", "--config", "Configs/two-leaves.yaml", "--counts", "1000",
                                       "--transport", "rdma"])
        #expect(rdma.status != 0)
        #expect(rdma.stderr.contains("--transport rdma: "), "\(rdma.output)")
        #expect(rdma.stderr.contains("tributary doctor"), "\(rdma.output)")
    }

    @Test func mismatchedCollectiveFailsNamingTheRank() throws {
        let run = try Self.tributary([
            "launch", "--config", "Configs/default.yaml", "--counts", "1000", "--mismatch-rank", "5",
            "--mismatch-kind", "dtype",
        ])
        #expect(run.status != 0)
        #expect(run.output.contains("collectiveMismatch"), "\(run.output)")
        #expect(run.output.contains("rank 5 called allreduce f64"), "\(run.output)")
        #expect(run.output.contains("tributary launch: FAILED"))
    }

    @Test func killedWorkerStopsTheClusterWithNoOrphans() throws {
        var childPids: [Int32] = []
        let run = try Self.tributary([
            "launch", "--config", "Configs/default.yaml", "--counts", "1000000", "--iters", "500", "--no-check",
            "--op-timeout", "20",
        ], timeout: 60) { launcher in
            // Wait for coordinator + 3 aggregators + 8 workers.
            #expect(Self.waitFor(60) { Self.children(of: launcher.processIdentifier).count == 12 })
            usleep(500_000)
            childPids = Self.children(of: launcher.processIdentifier)
            let victim = childPids.last!
            kill(victim, SIGKILL)
        }
        #expect(run.status != 0)
        #expect(run.output.contains("killed by signal 9") || run.output.contains("lost"), "\(run.output)")
        #expect(childPids.count == 12)
        for pid in childPids { #expect(!Self.alive(pid), "child \(pid) outlived the launcher") }
    }

    @Test func killedLauncherTakesItsChildrenWithIt() throws {
        var childPids: [Int32] = []
        let run = try Self.tributary([
            "launch", "--config", "Configs/default.yaml", "--counts", "1000000", "--iters", "500", "--no-check",
        ], timeout: 30) { launcher in
            #expect(Self.waitFor(60) { Self.children(of: launcher.processIdentifier).count == 12 })
            childPids = Self.children(of: launcher.processIdentifier)
            kill(launcher.processIdentifier, SIGKILL)
        }
        #expect(run.reason == .uncaughtSignal)
        #expect(childPids.count == 12)
        // Orphans are reparented; they must notice their stdin closed and exit on their own.
        #expect(Self.waitFor(15) { childPids.allSatisfy { !Self.alive($0) } },
                "children still alive: \(childPids.filter { Self.alive($0) })")
    }

    @Test func interruptStopsEveryProcess() throws {
        var childPids: [Int32] = []
        let run = try Self.tributary([
            "launch", "--config", "Configs/default.yaml", "--counts", "1000000", "--iters", "500", "--no-check",
        ], timeout: 30) { launcher in
            #expect(Self.waitFor(60) { Self.children(of: launcher.processIdentifier).count == 12 })
            childPids = Self.children(of: launcher.processIdentifier)
            kill(launcher.processIdentifier, SIGINT)
        }
        #expect(run.status != 0)
        #expect(run.output.contains("interrupted by signal"), "\(run.output)")
        for pid in childPids { #expect(!Self.alive(pid), "child \(pid) outlived the launcher") }
    }

    /// Output into a file or pipe is line-buffered, as nccl-tests' is: the banner naming the log
    /// directory is there while the cluster still runs, not only when the launcher ends.
    @Test func bannerIsInTheFileWhileTheClusterRuns() throws {
        let out = FileManager.default.temporaryDirectory.appendingPathComponent("launch-live-\(UUID().uuidString)")
        _ = FileManager.default.createFile(atPath: out.path, contents: nil)
        defer { try? FileManager.default.removeItem(at: out) }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: Self.binary)
        process.arguments = ["launch", "--config", "Configs/default.yaml", "--counts", "1000000", "--iters", "500",
                             "--no-check"]
        process.currentDirectoryURL = Self.root
        process.standardOutput = try FileHandle(forWritingTo: out)
        process.standardError = FileHandle.nullDevice
        process.standardInput = FileHandle.nullDevice
        try process.run()
        defer {
            if process.isRunning {
                kill(process.processIdentifier, SIGINT)
                if !Self.waitFor(30, { !process.isRunning }) { kill(process.processIdentifier, SIGKILL) }
                process.waitUntilExit()
            }
            Self.removeLogDirectory(named: (try? String(contentsOf: out, encoding: .utf8)) ?? "")
        }
        let banner = Self.waitFor(60) {
            ((try? String(contentsOf: out, encoding: .utf8)) ?? "").contains("logs in /tmp/tributary-launch-")
        }
        #expect(banner, "no banner in the output file")
        #expect(process.isRunning, "the banner reached the file only when the launcher ended")
    }

    @Test func badConfigIsNamedWithFileAndLine() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("trib-bad-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let file = dir.appendingPathComponent("bad.yaml")
        try "name: bad\ndefaults:\n  link:\n    rate: 10Gbitz\nhosts: [h0]\n".write(to: file, atomically: true,
                                                                                  encoding: .utf8)
        let run = try Self.tributary(["launch", "--config", file.path])
        #expect(run.status != 0)
        #expect(run.stderr.contains("bad.yaml:4"), "\(run.stderr)")
    }

    @Test func topoPrintsTreeAndDot() throws {
        let text = try Self.tributary(["topo", "Configs/default.yaml"])
        #expect(text.status == 0)
        #expect(text.stdout.contains("spine0"))
        #expect(text.stdout.contains("leaf1"))
        let dot = try Self.tributary(["topo", "Configs/fat-tree.yaml", "--dot"])
        #expect(dot.status == 0)
        #expect(dot.stdout.hasPrefix("digraph") || dot.stdout.hasPrefix("graph"), "\(dot.stdout.prefix(100))")
    }

    /// A job summary as the coordinator writes it (one operation), for `topo --summary`.
    static func summaryJSON(topology: String, links: String?) -> String {
        """
        {"job": 7, "jobName": "launch", "worldSize": 2, "tree": "", "path": "in-network", "topology": "\(topology)",
         "treeEdges": [["h0", "leaf0"], ["h4", "leaf1"], ["leaf0", "spine0"], ["leaf1", "spine0"]],
         \(links.map { "\"links\": \($0)," } ?? "")
         "operations": [{"algorithm": "innetwork", "bitExact": true, "bytesReceivedPerRank": 1000,
           "bytesSentPerRank": 1000, "collective": 1, "count": 250, "detail": "", "dtype": 1, "measured": true,
           "op": 1, "opSeq": 1, "path": "in-network", "rankSeconds": [0.001, 0.001], "root": 0, "seconds": 0.001,
           "transport": "tcp", "wrongRanks": []}]}
        """
    }

    @Test func topoDrawsTheTopologyAndASummarysLinkHeat() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("trib-topo-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let svg = dir.appendingPathComponent("tree.svg").path
        let plain = try Self.tributary(["topo", "Configs/default.yaml", "--ranks", "5", "--svg", svg])
        #expect(plain.status == 0, "\(plain.output)")
        let drawing = try String(contentsOfFile: svg, encoding: .utf8)
        #expect(drawing.components(separatedBy: "data-link=").count - 1 == 10)
        #expect(drawing.contains("class=\"link tree idle\" data-link=\"h4--leaf1\""))
        #expect(!drawing.contains("data-heat"))

        let links = "[{\"from\": \"h0\", \"to\": \"h4\", \"bytesUp\": 625000, \"bytesDown\": 0}]"
        let summary = dir.appendingPathComponent("launch.json").path
        try Self.summaryJSON(topology: "default", links: links).write(toFile: summary, atomically: true,
                                                                      encoding: .utf8)
        let heat = dir.appendingPathComponent("heat.svg").path
        let run = try Self.tributary(["topo", "Configs/default.yaml", "--summary", summary, "--svg", heat])
        #expect(run.status == 0, "\(run.output)")
        #expect(run.stdout.contains("utilisation over 0.001 s"), "\(run.stdout)")
        let heatmap = try String(contentsOfFile: heat, encoding: .utf8)
        // h0 → h4 crosses four links; 625 kB in 1 ms is half of a 10 Gbit/s link.
        #expect(heatmap.components(separatedBy: "data-heat=\"0.5\"").count - 1 == 4, "\(heatmap)")
        #expect(heatmap.contains("job launch (#7)"))

        try Self.summaryJSON(topology: "fat-tree-k8", links: links).write(toFile: summary, atomically: true,
                                                                           encoding: .utf8)
        let other = try Self.tributary(["topo", "Configs/default.yaml", "--summary", summary, "--svg", heat])
        #expect(other.status != 0)
        #expect(other.stderr.contains("ran on topology `fat-tree-k8`, not `default`"), "\(other.stderr)")

        try Self.summaryJSON(topology: "default", links: nil).write(toFile: summary, atomically: true, encoding: .utf8)
        let none = try Self.tributary(["topo", "Configs/default.yaml", "--summary", summary, "--svg", heat])
        #expect(none.status != 0)
        #expect(none.stderr.contains("carries no link data"), "\(none.stderr)")

        let alone = try Self.tributary(["topo", "Configs/default.yaml", "--summary", summary])
        #expect(alone.status != 0)
        #expect(alone.stderr.contains("give --svg FILE too"), "\(alone.stderr)")
    }
}

struct TestFailure: Error, CustomStringConvertible {
    let description: String
    init(_ d: String) { description = d }
}

/// `tributary bench` end to end: a short sweep of both algorithms, validated, with JSON and SVG.
@Suite(.serialized) struct BenchCommandTests {
    @Test func shortSweepWritesTableJSONAndPlot() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("trib-bench-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let json = dir.appendingPathComponent("bench.json").path
        let svg = dir.appendingPathComponent("bench.svg").path
        let run = try LaunchTests.tributary([
            "bench", "-b", "8", "-e", "64K", "-f", "8", "-n", "2", "-w", "1", "-c", "1", "--workers", "4",
            "--algo", "both", "--limit-repeats", "1", "-J", json, "--plot", svg,
        ])
        #expect(run.status == 0, "\(run.output)")
        #expect(run.stdout.contains("raw loopback socket"))
        #expect(run.stdout.contains("# #wrong: 0"))
        #expect(run.stdout.contains("Avg bus bandwidth (innetwork)"))
        #expect(run.stdout.contains("Avg bus bandwidth (ring)"))
        let data = try #require(FileManager.default.contents(atPath: json))
        let object = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        let rows = try #require(object["rows"] as? [[String: Any]])
        // 8 B, 64 B, 512 B, 4 KiB, 32 KiB × two algorithms.
        #expect(rows.count == 10)
        for row in rows {
            #expect(row["wrong"] as? Int == 0)
            #expect(row["checked"] as? Int == 2)
        }
        let plot = try String(contentsOfFile: svg, encoding: .utf8)
        #expect(plot.contains("<svg"))
        #expect(plot.contains("in-network algbw"))
        #expect(plot.contains("host ring algbw"))
    }

    @Test func limitsPrintsEveryCeiling() throws {
        // Small buffers: the debug build's kernels take minutes over the default 64 MiB.
        let run = try LaunchTests.tributary(["limits", "--repeats", "1", "--bytes", "1M", "--socket-bytes", "64M"])
        #expect(run.status == 0, "\(run.output)")
        #expect(run.stdout.contains("raw loopback socket (2 processes)"))
        #expect(run.stdout.contains("memcpy 1 MiB:"))
        #expect(run.stdout.contains("kernel f32 sum"))
        #expect(run.stdout.contains("kernel bf16 max"))
        #expect(run.stdout.contains("% of memcpy)"))
        let refused = try LaunchTests.tributary(["limits", "--bytes", "8"])
        #expect(refused.status != 0)
        #expect(refused.output.contains("--bytes must be at least 64"), "\(refused.output)")
    }
}
