import Foundation
import Testing

/// `tributary serve` as a user runs it: a long-lived fabric, jobs of several tenants attaching with
/// the endpoint file, admission by the switches' resources, and nothing left when it stops.
@Suite(.serialized) struct ServeTests {
    /// A job of `size` worker processes against the fabric at `endpoint`, started now.
    /// Each started rank's log file, removed by `finish`.
    final class JobLogs: @unchecked Sendable {
        let lock = NSLock()
        var byPid: [Int32: URL] = [:]
    }
    static let logs = JobLogs()

    static func startJob(_ name: String, size: Int, endpoint: String, arguments: [String]) throws -> [Process] {
        try (0..<size).map { rank in
            let p = Process()
            p.executableURL = URL(fileURLWithPath: LaunchTests.binary)
            p.arguments = ["worker", "--rank", "\(rank)", "--size", "\(size)", "--job", name, "--log-level", "warning"]
                + arguments
            p.currentDirectoryURL = LaunchTests.root
            var environment = ProcessInfo.processInfo.environment
            environment["TRIBUTARY_FABRIC"] = endpoint
            environment["TRIBUTARY_JOB_SECRET"] = "secret of \(name)"
            p.environment = environment
            let log = FileManager.default.temporaryDirectory.appendingPathComponent("serve-\(name)-\(rank)-\(UUID()).log")
            _ = FileManager.default.createFile(atPath: log.path, contents: nil)
            let handle = try FileHandle(forWritingTo: log)
            p.standardOutput = handle
            p.standardError = handle
            try p.run()
            logs.lock.withLock { logs.byPid[p.processIdentifier] = log }
            return p
        }
    }

    static func finish(_ job: [Process], seconds: TimeInterval = 120) -> [Int32] {
        _ = LaunchTests.waitFor(seconds) { job.allSatisfy { !$0.isRunning } }
        for p in job where p.isRunning { kill(p.processIdentifier, SIGKILL) }
        let statuses = job.map { $0.waitUntilExit(); return $0.terminationStatus }
        for p in job {
            if let log = logs.lock.withLock({ logs.byPid.removeValue(forKey: p.processIdentifier) }) {
                try? FileManager.default.removeItem(at: log)
            }
        }
        return statuses
    }

    static func jobs(_ endpoint: String) throws -> [String: Any] {
        let run = try LaunchTests.tributary(["jobs", "--fabric-endpoint", endpoint, "--json"], timeout: 30)
        guard run.status == 0, let object = try JSONSerialization.jsonObject(with: Data(run.stdout.utf8)) as? [String: Any]
        else { throw TestFailure("tributary jobs failed: \(run.output)") }
        return object
    }

    static func summary(_ directory: String, _ job: String) -> [String: Any]? {
        guard let data = FileManager.default.contents(atPath: "\(directory)/jobs/\(job).json") else { return nil }
        return try? JSONSerialization.jsonObject(with: data) as? [String: Any]
    }

    /// Two jobs take the whole slot pool of leaf0 (32 slots each); a third, arriving while they
    /// run, is run on the host ring, queued, or refused — each time with the reason naming the
    /// switch, its holders and the request. The first two finish bit-exact within their quota.
    @Test(arguments: ["ring", "queue", "refuse"])
    func concurrentJobsWithinQuotasAndAThirdByPolicy(policy: String) throws {
        let directory = NSTemporaryDirectory() + "tributary-serve-test-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let endpoint = "\(directory)/fabric.json"
        var daemons: [Int32] = []
        let run = try LaunchTests.tributary([
            "serve", "--config", "Configs/default.yaml", "--state-dir", directory, "--admission-policy", policy,
        ], timeout: 60) { serve in
            #expect(LaunchTests.waitFor(30) { FileManager.default.fileExists(atPath: endpoint) }, "serve never got ready")
            daemons = LaunchTests.children(of: serve.processIdentifier)
            #expect(daemons.count == 4, "coordinator and 3 aggregators")
            let busy = ["--counts", "262144", "--iters", "80", "--slots", "32"]
            let a = try Self.startJob("tenant-a", size: 4, endpoint: endpoint, arguments: busy)
            let b = try Self.startJob("tenant-b", size: 4, endpoint: endpoint, arguments: busy)
            #expect(LaunchTests.waitFor(30) {
                let live = (try? Self.jobs(endpoint))?["jobs"] as? [[String: Any]] ?? []
                return live.filter { $0["phase"] as? String == "running" }.count == 2
            }, "two jobs never ran together")
            let c = try Self.startJob("tenant-c", size: 4, endpoint: endpoint, arguments: ["--counts", "1000"])
            if policy == "queue" {
                #expect(LaunchTests.waitFor(20) {
                    let live = (try? Self.jobs(endpoint))?["jobs"] as? [[String: Any]] ?? []
                    return live.contains { $0["name"] as? String == "tenant-c" && $0["phase"] as? String == "queued"
                        && ($0["path"] as? String)?.contains("64 of 64 slots held by jobs") == true }
                }, "the third job was not shown queued")
            }
            #expect(Self.finish(a) == [0, 0, 0, 0])
            #expect(Self.finish(b) == [0, 0, 0, 0])
            let cStatus = Self.finish(c)
            #expect(cStatus == (policy == "refuse" ? [1, 1, 1, 1] : [0, 0, 0, 0]), "tenant-c exited \(cStatus)")
            kill(serve.processIdentifier, SIGTERM)
        }
        #expect(run.status == 0, "\(run.output)")
        #expect(run.stdout.contains("tributary serve: stopped"), "\(run.stdout)")
        #expect(!FileManager.default.fileExists(atPath: endpoint), "the endpoint file outlived the fabric")
        #expect(daemons.allSatisfy { !LaunchTests.alive($0) }, "daemons outlived serve")
        for tenant in ["tenant-a", "tenant-b"] {
            let s = try #require(Self.summary(directory, tenant), "no summary for \(tenant)")
            let operations = s["operations"] as? [[String: Any]] ?? []
            #expect(operations.count == 80)
            #expect(operations.allSatisfy { $0["bitExact"] as? Bool == true }, "\(tenant) not bit-exact")
            #expect((s["path"] as? String)?.hasPrefix("in-network") == true)
        }
        let c = try #require(Self.summary(directory, "tenant-c"))
        let held = "switch leaf0: 64 of 64 slots held by jobs"
        switch policy {
        case "ring":
            #expect((c["path"] as? String)?.contains("host fallback: admission: \(held)") == true, "\(c)")
            #expect((c["operations"] as? [[String: Any]])?.first?["bitExact"] as? Bool == true)
        case "queue":
            #expect((c["path"] as? String)?.hasPrefix("in-network") == true, "\(c)")
        default:
            #expect((c["failure"] as? String)?.contains("refused: \(held)") == true, "\(c)")
        }
    }

    /// A second launch cannot share a running launch's log directory (it would join its cluster).
    @Test func twoLaunchesCannotShareALogDirectory() throws {
        let directory = NSTemporaryDirectory() + "tributary-shared-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: directory) }
        var second: LaunchTests.Run?
        let first = try LaunchTests.tributary([
            "launch", "--counts", "1000000", "--iters", "30", "--no-check", "--log-dir", directory,
        ], timeout: 120) { _ in
            #expect(LaunchTests.waitFor(20) { FileManager.default.fileExists(atPath: "\(directory)/.lock") })
            second = try LaunchTests.tributary(["launch", "--counts", "1000", "--log-dir", directory], timeout: 60)
        }
        #expect(first.status == 0, "\(first.output)")
        let refused = try #require(second)
        #expect(refused.status != 0)
        #expect(refused.stderr.contains("is in use by another tributary process"), "\(refused.output)")
    }

    /// Everything but the namespace fabric and the VM runs as a normal user (here: nobody).
    @Test(.enabled(if: getuid() == 0 && FileManager.default.isExecutableFile(atPath: "/usr/bin/setpriv"),
                   "runs as root and drops to nobody with setpriv; as a normal user every other test already is"))
    func launchWorksAsANormalUser() throws {
        // nobody runs a copy of the binary and the topology from a directory it may enter: the
        // checkout itself may sit in one only root can (a clone under `mktemp -d`, mode 0700).
        let fm = FileManager.default
        let staged = URL(fileURLWithPath: "/tmp/tributary-nobody-\(UUID().uuidString)")
        try fm.createDirectory(at: staged, withIntermediateDirectories: false, attributes: [.posixPermissions: 0o755])
        defer { try? fm.removeItem(at: staged) }
        let binary = staged.appendingPathComponent("tributary").path
        try fm.copyItem(atPath: LaunchTests.binary, toPath: binary)
        try fm.copyItem(at: LaunchTests.root.appendingPathComponent("Configs/default.yaml"),
                        to: staged.appendingPathComponent("default.yaml"))
        for file in [binary, staged.appendingPathComponent("default.yaml").path] {
            try fm.setAttributes([.posixPermissions: 0o755], ofItemAtPath: file)
        }
        let run = try LaunchTests.tributary(
            ["launch", "--config", "default.yaml", "--counts", "0,1,1000,65537"],
            prefix: ["/usr/bin/setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"],
            environment: ["HOME": "/tmp", "TMPDIR": "/tmp"], executable: binary, directory: staged, keepLogs: true)
        #expect(run.status == 0, "\(run.output)")
        #expect(run.stdout.contains("4 operations, 4 validated against the host replay, 0 wrong"), "\(run.stdout)")
        // It really ran as nobody: its private directory belongs to uid 65534.
        let logs = try #require(run.stdout.components(separatedBy: "logs in ").last?.split(separator: "\n").first)
        let owner = try FileManager.default.attributesOfItem(atPath: String(logs))[.ownerAccountID] as? NSNumber
        #expect(owner?.intValue == 65534, "\(logs) is owned by \(String(describing: owner))")
        try? FileManager.default.removeItem(atPath: String(logs))
    }

    /// Absurd sizes are refused with the figure and what the machine can do, before anything starts.
    @Test func absurdSizesAreRefusedByName() throws {
        let counts = try LaunchTests.tributary(["launch", "--counts", "99999999999999"], timeout: 30)
        #expect(counts.status == 2, "\(counts.output)")
        #expect(counts.stderr.contains("counts up to 99999999999999") && counts.stderr.contains("available"),
                "\(counts.output)")
        let largest = try LaunchTests.tributary(["launch", "--counts", "\(Int.max)"], timeout: 30)
        #expect(largest.status == 2, "\(largest.output)")
        #expect(largest.stderr.contains("counts up to \(Int.max)"), "\(largest.output)")
        let config = NSTemporaryDirectory() + "tributary-huge-\(UUID().uuidString).yaml"
        defer { unlink(config) }
        try """
            name: huge
            defaults:
              link: { rate: 100Gbit, latency: 1us }
              aggregation: { slots: 64 }
            generate: { kind: leaf-spine, spines: 2, leaves: 400, hosts_per_leaf: 250 }
            """.write(toFile: config, atomically: true, encoding: .utf8)
        let hosts = try LaunchTests.tributary(["launch", "--config", config], timeout: 60)
        #expect(hosts.status == 2, "\(hosts.output)")
        #expect(hosts.stderr.contains("100000 workers"), "\(hosts.output)")
        try """
            name: huge
            defaults:
              link: { rate: 100Gbit, latency: 1us }
              aggregation: { slots: 64 }
            generate: { kind: fat-tree, k: 1000 }
            """.write(toFile: config, atomically: true, encoding: .utf8)
        let topo = try LaunchTests.tributary(["topo", config], timeout: 30)
        #expect(topo.status == 2, "\(topo.output)")
        #expect(topo.stderr.contains("fat-tree k=1000 has 250,000,000 hosts"), "\(topo.output)")
        let slots = try LaunchTests.tributary(["serve", "--switches", "nosuch"], timeout: 30)
        #expect(slots.status != 0)
        #expect(slots.stderr.contains("nosuch is not an aggregating switch"), "\(slots.output)")
    }
}
