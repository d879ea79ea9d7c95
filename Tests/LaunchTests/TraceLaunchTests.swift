import Foundation
import Testing

extension LaunchTests {
    /// `launch --trace`: every aggregator and worker writes its own trace, the launcher merges them
    /// into one file that is valid trace-event JSON with exactly one span per rank and operation and
    /// one per switch and operation, each process under a pid of its own.
    @Test func traceHasOneSpanPerRankAndOperation() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("launch-trace-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let file = directory.appendingPathComponent("trace.json").path
        let run = try Self.tributary([
            "launch", "--config", "Configs/default.yaml", "--workers", "4", "--transport", "tcp", "--chunk", "4096",
            "--counts", "1000,20000", "--collectives", "allreduce,broadcast", "--log-dir", directory.path + "/logs",
            "--trace", file,
        ], timeout: 120)
        #expect(run.status == 0, "\(run.output)")
        #expect(run.stdout.contains("trace written to \(file) (5 processes"), "\(run.stdout)")

        let data = try #require(FileManager.default.contents(atPath: file))
        let root = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        let events = try #require(root["traceEvents"] as? [[String: Any]])
        for event in events {
            let ph = event["ph"] as? String
            #expect(ph != nil && event["name"] is String && event["pid"] is NSNumber && event["tid"] is NSNumber,
                    "\(event)")
            if ph != "M" { #expect(event["ts"] is NSNumber, "\(event)") }
            if ph == "X" { #expect(((event["dur"] as? NSNumber)?.doubleValue ?? -1) >= 0, "\(event)") }
        }
        var processes: [Int: String] = [:]
        for event in events where event["ph"] as? String == "M" && event["name"] as? String == "process_name" {
            let pid = (event["pid"] as! NSNumber).intValue
            #expect(processes[pid] == nil, "two processes with pid \(pid)")
            processes[pid] = (event["args"] as? [String: Any])?["name"] as? String
        }
        #expect(Set(processes.values) == ["switch leaf0", "rank 0 (job launch)", "rank 1 (job launch)",
                                          "rank 2 (job launch)", "rank 3 (job launch)"], "\(processes)")
        // Four operations (two counts × two collectives): one span each at every rank and at the switch.
        var spans: [String: [Int]] = [:]
        for event in events where event["ph"] as? String == "X" && event["cat"] as? String == "operation" {
            let process = processes[(event["pid"] as! NSNumber).intValue] ?? "?"
            let op = ((event["args"] as? [String: Any])?["op"] as? NSNumber)?.intValue ?? -1
            spans[process, default: []].append(op)
        }
        for process in processes.values {
            #expect(spans[process]?.sorted() == [1, 2, 3, 4], "\(process): \(spans[process] ?? [])")
        }
        // Chunk detail is there too: each rank's sends to its leaf, the switch's folds.
        #expect(events.contains { ($0["name"] as? String) == "send up to leaf0" })
        #expect(events.contains { ($0["name"] as? String) == "fold" && ($0["ph"] as? String) == "X" })
    }
}
