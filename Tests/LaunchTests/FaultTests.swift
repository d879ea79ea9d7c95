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

    /// Two jobs share leaf0 (ranks 0-3 of each on h0-h3) when it is SIGSTOPped mid-operation: both
    /// trees are rebuilt without it within seconds and go on bit-exact. A rank of the second job is
    /// then killed: that job fails naming the rank, the first keeps running and ends bit-exact with
    /// its retried operation saying why. leaf0, continued, finds its coordinator gone, exits, is
    /// restarted by serve and registers again, and a new job's tree uses it.
    @Test func aHungSwitchCostsTwoJobsARetryAndRejoinsAfterwards() throws {
        let directory = NSTemporaryDirectory() + "tributary-hang-test-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let endpoint = "\(directory)/fabric.json"
        var stopped: Int32 = 0
        let run = try LaunchTests.tributary(["serve", "--config", "Configs/default.yaml", "--state-dir", directory,
                                             "--no-metrics"], timeout: 150) { serve in
            #expect(LaunchTests.waitFor(30) { FileManager.default.fileExists(atPath: endpoint) }, "serve never got ready")
            stopped = try #require(VisibilityTests.daemon("leaf0", under: serve.processIdentifier))
            let workload = ["--counts", "65537", "--iters", "150"]
            let first = try ServeTests.startJob("steady", size: 4, endpoint: endpoint, arguments: workload)
            let second = try ServeTests.startJob("doomed", size: 4, endpoint: endpoint, arguments: workload)
            defer {
                kill(stopped, SIGCONT)
                for p in first + second where p.isRunning { kill(p.processIdentifier, SIGKILL) }
                kill(serve.processIdentifier, SIGTERM)
            }
            #expect(VisibilityTests.status(endpoint, within: 30) { status in
                let jobs = status["jobs"] as? [[String: Any]] ?? []
                return jobs.count == 2 && jobs.allSatisfy { ($0["operations"] as? Int ?? 0) > 2 }
            } != nil, "the jobs never ran")
            kill(stopped, SIGSTOP)
            let stoppedAt = Date()
            let rebuilt = VisibilityTests.status(endpoint, within: 15) { status in
                let jobs = status["jobs"] as? [[String: Any]] ?? []
                return jobs.count == 2 && jobs.allSatisfy { ($0["path"] as? String ?? "").contains("rebuilt without leaf0") }
            }
            #expect(rebuilt != nil, "the trees were not rebuilt")
            #expect(Date().timeIntervalSince(stoppedAt) < 8, "rebuilt after \(Date().timeIntervalSince(stoppedAt)) s")
            kill(second[2].processIdentifier, SIGKILL)
            #expect(ServeTests.finish(second, seconds: 60)[0] != 0, "the job with a killed rank failed")
            #expect(ServeTests.finish(first, seconds: 120) == [0, 0, 0, 0], "the other job went on")
            kill(stopped, SIGCONT)
            #expect(LaunchTests.waitFor(20) {
                guard let now = VisibilityTests.daemon("leaf0", under: serve.processIdentifier), now != stopped else {
                    return false
                }
                return ((try? ServeTests.jobs(endpoint))?["switches"] as? [String] ?? []).contains("leaf0")
            }, "leaf0 was not restarted and registered again")
            let after = try ServeTests.startJob("after", size: 4, endpoint: endpoint, arguments: ["--counts", "1000"])
            #expect(ServeTests.finish(after, seconds: 60) == [0, 0, 0, 0])
        }
        #expect(run.status == 0, "\(run.output)")
        let steady = try #require(ServeTests.summary(directory, "steady"))
        #expect(steady["failure"] == nil, "\(steady["failure"] ?? "")")
        let operations = steady["operations"] as? [[String: Any]] ?? []
        #expect(operations.count == 150 && operations.allSatisfy { $0["bitExact"] as? Bool == true })
        let retried = operations.compactMap { $0["retried"] as? String }
        #expect(retried.count == 1 && retried[0].hasPrefix("aggregator leaf0 lost: hung: no heartbeat for"), "\(retried)")
        let recoveries = steady["recoveries"] as? [[String: Any]] ?? []
        #expect(recoveries.count == 1 && (recoveries.first?["nextSuccessSeconds"] as? Double ?? 99) < 5, "\(recoveries)")
        let doomed = try #require(ServeTests.summary(directory, "doomed"))
        #expect((doomed["failure"] as? String ?? "").contains("rank 2"), "\(doomed["failure"] ?? "no failure")")
        let after = try #require(ServeTests.summary(directory, "after"))
        #expect((after["treeEdges"] as? [[String]] ?? []).contains(["h0", "leaf0"]), "\(after["treeEdges"] ?? "")")
    }
}
