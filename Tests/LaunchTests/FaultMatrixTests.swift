import Foundation
import Testing

/// `--faults` × topologies over TCP, as separate processes: whatever is done to the fabric, the
/// run ends within its timeouts, leaves no process behind, and every operation is either bit-exact
/// or fails naming its cause. A lost switch (killed or hung, a leaf, the root, or one after the
/// other) costs a retry: the tree is rebuilt without it and every operation is still bit-exact,
/// the retried ones saying why. A corrupted payload is named by rank, chunk and element, a dropped
/// frame by the stall it leaves.
@Suite(.serialized) struct FaultMatrixTests {
    /// The nodes a fault names, per topology: a leaf with ranks 0-3 (hosts h0-h3), the other leaf
    /// (ranks 4-7) and the root above both.
    struct Fabric: CustomStringConvertible, Sendable {
        var config: String
        var leaf: String
        var otherLeaf: String
        var root: String
        var description: String { config }
    }

    static let fabrics = [
        Fabric(config: "Configs/default.yaml", leaf: "leaf0", otherLeaf: "leaf1", root: "spine0"),
        // Generated names hold `-`, so links read `h2-edge-p0-0`: the SPEC's link names must resolve.
        Fabric(config: "Configs/fat-tree.yaml", leaf: "edge-p0-0", otherLeaf: "edge-p0-1", root: "agg-p0-0"),
    ]

    enum Outcome: Sendable {
        /// Launch succeeds; every operation bit-exact.
        case bitExact
        /// Launch fails, and its output holds every one of these.
        case fails([String])
        /// Launch succeeds, every operation bit-exact, after recovering from a lost switch: its
        /// output holds every one of these.
        case recovers([String])
    }

    struct Case: CustomStringConvertible, Sendable {
        var name: String
        var spec: @Sendable (Fabric) -> String
        var outcome: @Sendable (Fabric) -> Outcome
        var description: String { name }
    }

    /// Ops 1-2 allreduce 1000 f32 (one chunk), ops 3-4 70000 (five 64 KiB chunks).
    static let workload = ["--counts", "1000,70000", "--iters", "2", "--chunk", "64K"]

    static let cases: [Case] = [
        Case(name: "kill leaf", spec: { "kill:\($0.leaf)@op=3" }, outcome: {
            .recovers(["lost: aggregator-\($0.leaf) (pid ", "killed by signal 9",
                       "RETRIED op #3 (bit-exact): aggregator \($0.leaf) lost: closed the connection",
                       "RECOVERED from \($0.leaf) (closed the connection"])
        }),
        Case(name: "kill root", spec: { "kill:\($0.root)@op=2" }, outcome: {
            .recovers(["lost: aggregator-\($0.root) (pid ", "RETRIED op #2 (bit-exact): aggregator \($0.root) lost",
                       "rebuilt without \($0.root)"])
        }),
        Case(name: "kill leaf then root", spec: { "kill:\($0.leaf)@op=3,chunk=2;kill:\($0.root)@op=4,chunk=3" }, outcome: {
            .recovers(["RETRIED op #3 (bit-exact): aggregator \($0.leaf) lost",
                       "RETRIED op #4 (bit-exact): aggregator \($0.root) lost",
                       "rebuilt without \([$0.leaf, $0.root].sorted().joined(separator: ", "))"])
        }),
        Case(name: "hang leaf", spec: { "hang:\($0.leaf)@op=3,chunk=2" }, outcome: {
            .recovers(["RETRIED op #3 (bit-exact): aggregator \($0.leaf) lost: hung: no heartbeat for",
                       "RECOVERED from \($0.leaf) (hung"])
        }),
        Case(name: "hang root", spec: { "hang:\($0.root)@op=4,chunk=1" }, outcome: {
            .recovers(["RETRIED op #4 (bit-exact): aggregator \($0.root) lost: hung: no heartbeat for"])
        }),
        Case(name: "delay links", spec: { "delay:\($0.otherLeaf)-\($0.root)@ms=20;delay:h2-\($0.leaf)@ms=5,frames=0.5" },
             outcome: { _ in .bitExact }),
        Case(name: "slow rank", spec: { _ in "slow:rank=5@ms=50" }, outcome: { _ in .bitExact }),
        Case(name: "corrupt payload", spec: { "corrupt:h1-\($0.leaf)@op=3,chunk=2;seed=5" }, outcome: { _ in
            .fails(["MISMATCH op #3: rank ", " chunk 2 element ", "NO "])
        }),
        Case(name: "drop frame", spec: { "drop:h2-\($0.leaf)@op=3,chunk=1" }, outcome: { _ in
            .fails(["timeout reported by coordinator", "op #3, ranks 2: waiting for rank 2"])
        }),
    ]

    /// Every process the launcher started while it ran (polled, so one that ends early is seen too).
    static func watchChildren(of launcher: Process) -> Set<Int32> {
        var seen = Set<Int32>()
        while launcher.isRunning {
            seen.formUnion(LaunchTests.children(of: launcher.processIdentifier))
            usleep(20_000)
        }
        return seen
    }

    @Test(arguments: fabrics, cases)
    func aFaultEndsBitExactOrNamed(fabric: Fabric, fault: Case) throws {
        let spec = fault.spec(fabric)
        var children = Set<Int32>()
        let start = Date()
        let run = try LaunchTests.tributary([
            "launch", "--config", fabric.config, "--workers", "8", "--transport", "tcp", "--faults", spec,
            "--stall-timeout", "1", "--op-timeout", "15", "--timeout", "60",
        ] + Self.workload, timeout: 90) { launcher in
            children = Self.watchChildren(of: launcher)
        }
        let seconds = Date().timeIntervalSince(start)
        #expect(run.stdout.contains("faults (seed "), "the plan is printed: \(run.stdout)")
        switch fault.outcome(fabric) {
        case .bitExact:
            #expect(run.status == 0, "\(spec): \(run.output)")
            #expect(run.stdout.contains("4 operations, 4 validated against the host replay, 0 wrong"), "\(run.stdout)")
        case .fails(let phrases):
            #expect(run.status != 0, "\(spec) did not fail: \(run.output)")
            #expect(run.output.contains("tributary launch: FAILED"))
            for phrase in phrases { #expect(run.output.contains(phrase), "\(spec): no `\(phrase)` in\n\(run.output)") }
        case .recovers(let phrases):
            #expect(run.status == 0, "\(spec): \(run.output)")
            #expect(run.stdout.contains("4 operations, 4 validated against the host replay, 0 wrong"), "\(run.stdout)")
            for phrase in phrases { #expect(run.output.contains(phrase), "\(spec): no `\(phrase)` in\n\(run.output)") }
        }
        // Within the timeouts: a 1 s stall timeout, heartbeats silent for 1.5 s, the coordinator's
        // grace for ranks to hear why: far below the 60 s of --timeout.
        #expect(seconds < 30, "\(spec) took \(seconds) s")
        #expect(children.count == 12, "coordinator, 3 aggregators and 8 workers: \(children.sorted())")
        for pid in children { #expect(!LaunchTests.alive(pid), "\(spec): child \(pid) outlived the launcher") }
    }
}

/// `--faults` is checked before anything starts, on every command that takes it.
@Suite(.serialized) struct FaultSpecCommandTests {
    @Test func aBadSpecIsRefusedBeforeAnythingStarts() throws {
        let syntax = try LaunchTests.tributary(["launch", "--faults", "kill:leaf0@op=0"])
        #expect(syntax.status != 0)
        #expect(syntax.stderr.contains("--faults: position 15: op=0: expected an operation 1...1000000000"),
                "\(syntax.stderr)")
        #expect(!syntax.stdout.contains("logs in"), "\(syntax.stdout)")
        let unknown = try LaunchTests.tributary(["launch", "--config", "Configs/two-leaves.yaml", "--faults",
                                                 "drop:h2-leaf0@frames=1%;hang:spine1"])
        #expect(unknown.status != 0)
        #expect(unknown.stderr.contains("`hang:spine1`: spine1 is no switch, host or link of topology two-leaves"),
                "\(unknown.stderr)")
        let rank = try LaunchTests.tributary(["launch", "--config", "Configs/two-leaves.yaml", "--faults",
                                              "slow:rank=4@ms=5"])
        #expect(rank.stderr.contains("rank 4 is beyond this run's 4 ranks"), "\(rank.stderr)")
        let bench = try LaunchTests.tributary(["bench", "--faults", "delay:leaf0-spine0"])
        #expect(bench.status != 0)
        #expect(bench.stderr.contains("delay needs ms="), "\(bench.stderr)")
        let silence = try LaunchTests.tributary(["launch", "--switch-silence", "0.1"])
        #expect(silence.status != 0)
        #expect(silence.stderr.contains("--switch-silence takes 0.5 to 3600 seconds"), "\(silence.stderr)")
        let serve = try LaunchTests.tributary(["serve", "--switches", "spine0,leaf1", "--faults", "kill:leaf0"])
        #expect(serve.status != 0)
        #expect(serve.stderr.contains("no aggregator runs for leaf0 here"), "\(serve.stderr)")
    }

    /// bench takes faults too: a delayed link costs time, never a wrong result.
    @Test func benchRunsWithADelayedLink() throws {
        let run = try LaunchTests.tributary([
            "bench", "-b", "4K", "-e", "64K", "-f", "16", "-n", "2", "-w", "0", "-c", "1", "--workers", "4",
            "--algo", "innetwork", "--limit-repeats", "1", "--config", "Configs/two-leaves.yaml",
            "--faults", "delay:leaf1-spine0@ms=10",
        ], timeout: 120)
        #expect(run.status == 0, "\(run.output)")
        #expect(run.stdout.contains("# faults (seed 1): delay every frame on leaf1-spine0 by 10 ms"), "\(run.stdout)")
        #expect(run.stdout.contains("# #wrong: 0"), "\(run.stdout)")
    }

    /// Under serve, a killed switch costs the job using it a retry (its tree is rebuilt without the
    /// switch); serve restarts the switch without the kill (else every job reaching op 1 would kill
    /// it again), and the next job's tree uses it again.
    @Test func serveRestartsAKilledSwitchWithoutItsKill() throws {
        let directory = NSTemporaryDirectory() + "tributary-fault-serve-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let endpoint = "\(directory)/fabric.json"
        var killed: Int32?
        let run = try LaunchTests.tributary(["serve", "--config", "Configs/two-leaves.yaml", "--state-dir", directory,
                                             "--no-metrics", "--faults", "kill:leaf1@op=1"],
                                            timeout: 90) { serve in
            #expect(LaunchTests.waitFor(30) { FileManager.default.fileExists(atPath: endpoint) }, "serve never got ready")
            killed = VisibilityTests.daemon("leaf1", under: serve.processIdentifier)
            let first = try ServeTests.startJob("first", size: 4, endpoint: endpoint, arguments: ["--counts", "1000"])
            #expect(ServeTests.finish(first, seconds: 60) == [0, 0, 0, 0], "the job on the killed switch recovered")
            #expect(LaunchTests.waitFor(15) {
                guard let now = VisibilityTests.daemon("leaf1", under: serve.processIdentifier), now != killed else {
                    return false
                }
                let switches = (try? ServeTests.jobs(endpoint))?["switches"] as? [String] ?? []
                return switches.contains("leaf1")
            }, "leaf1 was not restarted")
            let second = try ServeTests.startJob("second", size: 4, endpoint: endpoint, arguments: ["--counts", "1000"])
            #expect(ServeTests.finish(second, seconds: 60) == [0, 0, 0, 0])
            kill(serve.processIdentifier, SIGTERM)
        }
        #expect(run.status == 0, "\(run.output)")
        #expect(run.stdout.contains("faults (seed 1): kill leaf1 at op 1"), "\(run.stdout)")
        #expect(run.stderr.contains("aggregator-leaf1 (pid \(killed ?? -1)) killed by signal 9"), "\(run.stderr)")
        let first = try #require(ServeTests.summary(directory, "first"))
        #expect(first["failure"] == nil, "\(first["failure"] ?? "")")
        let operations = first["operations"] as? [[String: Any]] ?? []
        #expect(!operations.isEmpty && operations.allSatisfy { $0["bitExact"] as? Bool == true }, "\(operations)")
        #expect(operations.first?["retried"] as? String == "aggregator leaf1 lost: closed the connection (pid \(killed ?? -1))",
                "\(operations)")
        let recoveries = first["recoveries"] as? [[String: Any]] ?? []
        #expect(recoveries.count == 1 && recoveries.first?["lost"] as? String == "leaf1", "\(recoveries)")
        let second = try #require(ServeTests.summary(directory, "second"))
        #expect((second["operations"] as? [[String: Any]])?.first?["bitExact"] as? Bool == true)
        #expect((second["path"] as? String)?.contains("rebuilt") == false, "\(second["path"] ?? "")")
        #expect((second["treeEdges"] as? [[String]] ?? []).contains { $0.contains("leaf1") }, "the restarted leaf1 serves")
    }
}
