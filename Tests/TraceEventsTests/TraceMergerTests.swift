import Foundation
import Testing
import TraceEvents
import TributaryCore

@Suite struct TraceMergerTests {
    /// Per-process traces of a small run, all claiming the same pid (as processes on two machines may).
    static func writeRun(in scratch: ScratchDirectory, ranks: [Int], pid: Int32 = 4242) throws {
        let clock = ManualClock()
        let leaf = TraceRecorder(processName: "switch leaf0", path: scratch.file("aggregator-leaf0.json"), pid: pid,
                                 clock: clock.function)
        leaf.observe(.jobInstalled(job: 1, name: "m", slots: 4, slotBytes: 64))
        for rank in ranks {
            let recorder = TraceRecorder(processName: "rank \(rank) (job m)", path: scratch.file("worker-\(rank).json"),
                                         pid: pid, clock: clock.function)
            TraceRecorderTests.runOperations(recorder, clock: clock, job: 1, rank: rank, ops: 1...2, chunks: 2)
            try recorder.flush()
            leaf.observe(.chunkArrived(job: 1, opSeq: 1, chunk: 0, from: "host\(rank)", bytes: 8))
        }
        leaf.observe(.jobEnded(job: 1))
        try leaf.flush()
    }

    @Test func mergedTraceIsValidWithOnePidPerProcessAndLanesOfTheirOwn() throws {
        let scratch = try ScratchDirectory()
        defer { scratch.remove() }
        let ranks = [0, 1, 2, 10]
        try Self.writeRun(in: scratch, ranks: ranks)
        let output = scratch.file("merged.json")
        let merge = try TraceMerger.merge(directory: scratch.path, into: output)
        #expect(merge.processes == 5)
        #expect(merge.skipped.isEmpty)
        let events = try traceEvents(at: output)
        #expect(merge.events == events.count)
        #expect(formatProblems(events).isEmpty, "\(formatProblems(events))")
        #expect(partlyOverlappingSpans(events).isEmpty)
        let names = Dictionary(uniqueKeysWithValues: events.filter { $0.name == "process_name" }
            .map { ($0.pid!, $0.string("name")!) })
        #expect(names.count == 5)
        #expect(Set(names.values) == Set(["switch leaf0"] + ranks.map { "rank \($0) (job m)" }))
        // Every event's pid is one of the processes; a lane belongs to one process only.
        #expect(Set(events.compactMap(\.pid)) == Set(names.keys))
        var laneOwner: [Int: Int] = [:]
        for event in events {
            if let owner = laneOwner[event.tid!] { #expect(owner == event.pid!, "lane \(event.tid!) in two processes") }
            laneOwner[event.tid!] = event.pid!
        }
        #expect(Set(laneOwner.keys).isDisjoint(with: Set(names.keys)))
        // One span per rank and operation; one per operation at the switch.
        let spans = events.filter { $0.ph == "X" && $0.category == "operation" }
        for (pid, name) in names where name.hasPrefix("rank") {
            #expect(spans.filter { $0.pid == pid }.compactMap { $0.int("op") }.sorted() == [1, 2], "\(name)")
        }
        // Natural order: worker-2 before worker-10.
        let order = Dictionary(uniqueKeysWithValues: events.filter { $0.name == "process_sort_index" }
            .map { (names[$0.pid!]!, $0.int("sort_index")!) })
        #expect(order["switch leaf0"]! < order["rank 0 (job m)"]!)
        #expect(order["rank 2 (job m)"]! < order["rank 10 (job m)"]!)
    }

    @Test func timestampsSurviveTheMergeExactly() throws {
        let scratch = try ScratchDirectory()
        defer { scratch.remove() }
        let clock = ManualClock(1_765_000_000_123_456_789)
        let recorder = TraceRecorder(processName: "rank 0", path: scratch.file("worker-0.json"), clock: clock.function)
        recorder.observe(.resultArrived(job: 1, opSeq: 1, chunk: 0, from: "leaf0", bytes: 0))
        try recorder.flush()
        let output = scratch.file("merged.json")
        try TraceMerger.merge(directory: scratch.path, into: output)
        #expect(try String(contentsOfFile: output, encoding: .utf8).contains("\"ts\":1765000000123456.789"))
    }

    @Test func filesNotWrittenByARecorderAreSkippedAndNamed() throws {
        let scratch = try ScratchDirectory()
        defer { scratch.remove() }
        try Self.writeRun(in: scratch, ranks: [0])
        try Data("{\"traceEvents\":[]}".utf8).write(to: URL(fileURLWithPath: scratch.file("foreign.json")))
        try Data("not even json".utf8).write(to: URL(fileURLWithPath: scratch.file("worker-9.json")))
        try Data("ignored".utf8).write(to: URL(fileURLWithPath: scratch.file("worker-8.json.tmp.1")))
        let output = scratch.file("merged.json")
        let merge = try TraceMerger.merge(directory: scratch.path, into: output)
        #expect(merge.processes == 2)
        #expect(merge.skipped.count == 2)
        #expect(merge.skipped.contains { $0.contains("foreign.json") })
        #expect(merge.skipped.contains { $0.contains("worker-9.json") })
        #expect(formatProblems(try traceEvents(at: output)).isEmpty)
        // Merging again into the same directory leaves the previous output out.
        #expect(try TraceMerger.merge(directory: scratch.path, into: output).processes == 2)
    }

    @Test func anEmptyDirectoryIsAnError() throws {
        let scratch = try ScratchDirectory()
        defer { scratch.remove() }
        #expect(throws: TraceError.nothingToMerge(directory: scratch.path, skipped: [])) {
            try TraceMerger.merge(directory: scratch.path, into: scratch.file("merged.json"))
        }
        #expect(throws: TraceError.self) {
            try TraceMerger.merge(directory: scratch.file("missing"), into: scratch.file("merged.json"))
        }
    }
}
