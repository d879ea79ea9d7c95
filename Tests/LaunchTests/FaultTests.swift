import Foundation
import Testing

/// A fabric that loses a switch keeps serving: jobs get trees built around a switch with no
/// aggregator (it only forwards), and `serve` restarts a dead aggregator, which serves new jobs.
@Suite(.serialized) struct FaultTests {
    /// leaf0 has no aggregator: after `--aggregator-wait` the job's tree is built without it (its
    /// ranks attach to spine0), runs in-network and is bit-exact; its path says why.
    @Test func aJobRunsOnATreeBuiltAroundASwitchWithNoAggregator() throws {
        let directory = NSTemporaryDirectory() + "tributary-fault-test-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let endpoint = "\(directory)/fabric.json"
        let run = try LaunchTests.tributary(["serve", "--config", "Configs/default.yaml", "--state-dir", directory,
                                             "--switches", "spine0,leaf1", "--aggregator-wait", "1", "--no-metrics"],
                                            timeout: 60) { serve in
            #expect(LaunchTests.waitFor(30) { FileManager.default.fileExists(atPath: endpoint) }, "serve never got ready")
            let job = try ServeTests.startJob("around", size: 8, endpoint: endpoint, arguments: ["--counts", "1000,65537"])
            #expect(ServeTests.finish(job, seconds: 60) == Array(repeating: 0, count: 8))
            kill(serve.processIdentifier, SIGTERM)
        }
        #expect(run.status == 0, "\(run.output)")
        let summary = try #require(ServeTests.summary(directory, "around"))
        let path = summary["path"] as? String ?? ""
        #expect(path.hasPrefix("in-network"), "\(path)")
        #expect(path.contains("built without leaf0: no aggregator for leaf0 after 1.0 seconds"), "\(path)")
        let operations = summary["operations"] as? [[String: Any]] ?? []
        #expect(!operations.isEmpty && operations.allSatisfy { $0["bitExact"] as? Bool == true })
        let edges = summary["treeEdges"] as? [[String]] ?? []
        #expect(edges.contains(["h0", "spine0"]) && edges.contains(["leaf1", "spine0"]), "\(edges)")
    }

    /// A SIGKILLed aggregator is restarted by serve, registers again, and the next job's tree uses it.
    @Test func serveRestartsADeadAggregatorWhichServesTheNextJob() throws {
        let directory = NSTemporaryDirectory() + "tributary-restart-test-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let endpoint = "\(directory)/fabric.json"
        var killed: Int32 = 0
        var restarted: Int32?
        let run = try LaunchTests.tributary(["serve", "--config", "Configs/default.yaml", "--state-dir", directory,
                                             "--no-metrics"], timeout: 90) { serve in
            #expect(LaunchTests.waitFor(30) { FileManager.default.fileExists(atPath: endpoint) }, "serve never got ready")
            killed = try #require(VisibilityTests.daemon("leaf0", under: serve.processIdentifier))
            kill(killed, SIGKILL)
            #expect(LaunchTests.waitFor(15) {
                restarted = VisibilityTests.daemon("leaf0", under: serve.processIdentifier)
                guard let restarted, restarted != killed else { return false }
                let switches = (try? ServeTests.jobs(endpoint))?["switches"] as? [String] ?? []
                return switches.contains("leaf0")
            }, "leaf0 was not restarted and registered again")
            let job = try ServeTests.startJob("after", size: 8, endpoint: endpoint, arguments: ["--counts", "65537"])
            #expect(ServeTests.finish(job, seconds: 60) == Array(repeating: 0, count: 8))
            kill(serve.processIdentifier, SIGTERM)
        }
        #expect(run.status == 0, "\(run.output)")
        #expect(run.stderr.contains("aggregator-leaf0 (pid \(killed)) killed by signal 9"), "\(run.stderr)")
        #expect(run.stdout.contains("aggregator leaf0 restarted"), "\(run.stdout)")
        let summary = try #require(ServeTests.summary(directory, "after"))
        #expect((summary["path"] as? String) == "in-network: tree spine0 over 3 switches, 2 levels, window 16"
                || (summary["path"] as? String)?.hasPrefix("in-network: tree spine0 over 3 switches") == true,
                "\(summary["path"] ?? "")")
        #expect((summary["operations"] as? [[String: Any]])?.first?["bitExact"] as? Bool == true)
        if let restarted { #expect(!LaunchTests.alive(restarted), "the restarted aggregator outlived serve") }
    }
}
