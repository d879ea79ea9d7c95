import ArgumentParser
import Foundation
import TributaryCore

/// `tributary status`: what a running fabric is doing now — its switches and their heartbeats,
/// its jobs, the operations in flight and, for a stalled one, who waits for whom and who has gone
/// silent (a stopped switch is named as the switch, a stopped rank as the rank).
struct StatusCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Show a running fabric's switches, jobs, operations in flight and who a stalled one waits for.")

    @OptionGroup var access: ClientOptions

    @Flag(help: "Print the status as JSON.")
    var json = false

    @Option(help: "Refresh every this many seconds until interrupted (--watch 1).")
    var watch: Double?

    func validate() throws {
        if let watch, !(watch >= 0.1 && watch <= 3600) { throw ValidationError("--watch takes 0.1 to 3600 seconds") }
    }

    func run() async throws {
        let (coordinator, key) = try access.resolve()
        let client = FabricClient(coordinator: coordinator, key: key)
        repeat {
            let status: LiveStatus
            do {
                status = try await client.liveStatus()
            } catch {
                writeStderr("tributary status: \(error)")
                throw ExitCode(1)
            }
            if watch != nil && !json { print("\u{1B}[H\u{1B}[2J", terminator: "") }
            print(json ? try Self.json(status) : Self.render(status))
            fflush(nil)
            if let watch { try await Task.sleep(for: .seconds(watch)) }
        } while watch != nil
    }

    static func json(_ status: LiveStatus) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        return String(decoding: try encoder.encode(status), as: UTF8.self)
    }

    /// The status as a reader wants it: problems first within each job.
    static func render(_ status: LiveStatus) -> String {
        var lines: [String] = []
        let registered = status.switches.filter(\.registered).count
        lines.append("fabric \(status.topology): \(registered) of \(status.switches.count) aggregating switches "
                     + "registered, \(status.jobs.count) jobs")
        for sw in status.switches {
            var state: String
            if !sw.registered {
                state = "no aggregator"
            } else if let silent = sw.silentSeconds, silent >= StallDiagnosis.silence {
                state = String(format: "NOT RESPONDING: no heartbeat for %.1f s", silent)
            } else {
                state = String(format: "ok (heard %.1f s ago)", sw.silentSeconds ?? 0)
            }
            let pid = sw.pid.map { " pid \($0)" } ?? ""
            lines.append("  switch \(sw.name)\(pid): \(state); \(sw.jobs) jobs, \(sw.slotsInUse) slots in use")
        }
        for job in status.jobs {
            lines.append("job \(job.name) (#\(job.id)): \(job.ranks) ranks, \(job.phase), \(job.operations) operations "
                         + "done, \(job.path)")
            if !job.treeEdges.isEmpty {
                lines.append("  tree: " + job.treeEdges.map { "\($0[0])→\($0[1])" }.joined(separator: " "))
            }
            for rank in job.silentRanks.keys.sorted() {
                lines.append(String(format: "  rank %d NOT RESPONDING: no heartbeat for %.1f s", rank,
                                    job.silentRanks[rank]!))
            }
            for op in job.inFlight {
                var line = "  op \(op.opSeq) \(op.collective): ranks \(RankList.format(op.ranksIn)) in it "
                    + String(format: "(%.1f s)", op.seconds)
                if !op.ranksNotIn.isEmpty { line += ", ranks \(RankList.format(op.ranksNotIn)) not" }
                lines.append(line)
            }
            for finding in job.diagnosis { lines.append("  " + finding) }
        }
        return lines.joined(separator: "\n")
    }
}
