import Foundation
import Testing
import TraceEvents
import TributaryCore

@Suite struct TraceRecorderTests {
    /// A rank's operations as its communicator reports them: start, chunks sent and results, end.
    static func runOperations(_ recorder: TraceRecorder, clock: ManualClock, job: UInt32 = 7, rank: Int = 3,
                              ops: ClosedRange<UInt64>, chunks: UInt32 = 4, failing: UInt64? = nil) {
        for op in ops {
            recorder.observe(.operationStarted(job: job, rank: rank, opSeq: op, collective: .allreduce, dtype: .f32,
                                               count: 1024, algorithm: .inNetwork))
            for chunk in 0..<chunks {
                clock.advance(microseconds: 10)
                recorder.observe(.chunkSent(job: job, opSeq: op, chunk: chunk, to: "leaf0", direction: .up,
                                            bytes: 1024))
            }
            for chunk in 0..<chunks {
                clock.advance(microseconds: 10)
                recorder.observe(.resultArrived(job: job, opSeq: op, chunk: chunk, from: "leaf0", bytes: 1024))
            }
            clock.advance(microseconds: 5)
            recorder.observe(.operationEnded(job: job, rank: rank, opSeq: op, collective: .allreduce,
                                             algorithm: .inNetwork, seconds: 85e-6, bytesSent: 4096,
                                             bytesReceived: 4096, failure: op == failing ? "peer lost" : nil))
            clock.advance(microseconds: 3)
        }
    }

    @Test func aRankHasOneSpanPerOperationAndAMarkPerChunk() throws {
        let scratch = try ScratchDirectory()
        defer { scratch.remove() }
        let clock = ManualClock()
        let recorder = TraceRecorder(processName: "rank 3 (job t)", path: scratch.file("rank.json"),
                                     clock: clock.function)
        Self.runOperations(recorder, clock: clock, ops: 1...3, failing: 2)
        let written = try recorder.flush()
        let events = try traceEvents(at: recorder.path)
        #expect(formatProblems(events).isEmpty, "\(formatProblems(events))")
        #expect(written.events == events.count)
        #expect(Set(events.compactMap(\.pid)).count == 1)
        #expect(events.contains { $0.ph == "M" && $0.name == "process_name" && $0.string("name") == "rank 3 (job t)" })
        let spans = events.filter { $0.ph == "X" && $0.category == "operation" }
        #expect(spans.compactMap { $0.int("op") }.sorted() == [1, 2, 3])
        #expect(spans.allSatisfy { $0.name == "allreduce 4 KiB" && $0.string("dtype") == "f32" && $0.int("rank") == 3 })
        #expect(spans.allSatisfy { abs($0.dur! - 85) < 0.001 }, "\(spans.map(\.dur))")
        #expect(spans.filter { $0.string("failure") != nil }.compactMap { $0.int("op") } == [2])
        let marks = events.filter { $0.category == "chunk" }
        #expect(marks.count == 3 * 8)
        #expect(marks.filter { $0.name == "send up to leaf0" }.count == 12)
        #expect(marks.filter { $0.name == "result from leaf0" }.count == 12)
        let lanes = Dictionary(uniqueKeysWithValues: events.filter { $0.name == "thread_name" }
            .map { ($0.tid!, $0.string("name")!) })
        #expect(Set(spans.map { lanes[$0.tid!] }) == ["operations"])
        #expect(Set(marks.map { lanes[$0.tid!] }) == ["to leaf0 (up)", "results from leaf0"])
    }

    /// The events an aggregator under spine0 with children host0 and host1 reports for one chunk of operation `op`.
    static func aggregateOneChunk(_ recorder: TraceRecorder, clock: ManualClock, job: UInt32, op: UInt64,
                                  chunk: UInt32, lateChild: String = "host1", lag: Int64 = 50) {
        let early = lateChild == "host1" ? "host0" : "host1"
        recorder.observe(.chunkArrived(job: job, opSeq: op, chunk: chunk, from: early, bytes: 100))
        recorder.observe(.slotsInUse(job: job, slots: 1, slotBytes: 4096))
        clock.advance(microseconds: lag)
        recorder.observe(.chunkArrived(job: job, opSeq: op, chunk: chunk, from: lateChild, bytes: 100))
        recorder.observe(.chunkFolded(job: job, opSeq: op, chunk: chunk, contributions: 2, waited: UInt64(lag * 1000)))
        recorder.observe(.slotsInUse(job: job, slots: 0, slotBytes: 0))
        recorder.observe(.chunkSent(job: job, opSeq: op, chunk: chunk, to: "spine0", direction: .up, bytes: 100))
        clock.advance(microseconds: 20)
        recorder.observe(.resultArrived(job: job, opSeq: op, chunk: chunk, from: "spine0", bytes: 100))
        recorder.observe(.chunkSent(job: job, opSeq: op, chunk: chunk, to: "host0", direction: .down, bytes: 100))
        clock.advance(microseconds: 1)
        recorder.observe(.chunkSent(job: job, opSeq: op, chunk: chunk, to: "host1", direction: .down, bytes: 100))
        clock.advance(microseconds: 5)
    }

    @Test func aSwitchSpanRunsFromTheFirstArrivalToTheLastSendAndNamesTheLateChild() throws {
        let scratch = try ScratchDirectory()
        defer { scratch.remove() }
        let clock = ManualClock()
        let recorder = TraceRecorder(processName: "switch leaf0", path: scratch.file("leaf0.json"),
                                     clock: clock.function)
        recorder.observe(.jobInstalled(job: 9, name: "demo", slots: 4, slotBytes: 4096))
        clock.advance(microseconds: 100)
        let start = clock.now
        Self.aggregateOneChunk(recorder, clock: clock, job: 9, op: 1, chunk: 0)
        Self.aggregateOneChunk(recorder, clock: clock, job: 9, op: 1, chunk: 1, lag: 80)
        let lastSend = clock.now - 5000
        clock.advance(microseconds: 1000)
        Self.aggregateOneChunk(recorder, clock: clock, job: 9, op: 2, chunk: 0, lateChild: "host0")

        // Mid-run: operation 1 ended when operation 2 reached the switch; operation 2 is written up
        // to now, marked open.
        try recorder.flush()
        var spans = try traceEvents(at: recorder.path).filter { $0.ph == "X" && $0.category == "operation" }
        #expect(spans.count == 2)
        #expect(spans.filter { $0.args["open"] as? Bool == true }.compactMap { $0.int("op") } == [2])
        // A straggling event of operation 1 starts no second span.
        recorder.observe(.chunkArrived(job: 9, opSeq: 1, chunk: 0, from: "host0", bytes: 100))

        recorder.observe(.jobEnded(job: 9))
        try recorder.flush()
        let events = try traceEvents(at: recorder.path)
        #expect(formatProblems(events).isEmpty, "\(formatProblems(events))")
        #expect(partlyOverlappingSpans(events).isEmpty, "\(partlyOverlappingSpans(events))")
        spans = events.filter { $0.ph == "X" && $0.category == "operation" }.sorted { $0.int("op")! < $1.int("op")! }
        #expect(spans.count == 2)
        #expect(!spans.contains { $0.args["open"] != nil })
        let first = try #require(spans.first)
        #expect(first.name == "operation 1")
        #expect(abs(first.ts! - Double(start) / 1000) < 0.001)
        #expect(abs(first.ts! + first.dur! - Double(lastSend) / 1000) < 0.001)
        #expect(first.int("arrivals") == 4 && first.int("folds") == 2 && first.int("sent_down") == 4)
        #expect(first.int("sent_up") == 2 && first.int("results") == 2 && first.int("bytes_in") == 400)
        #expect(first.string("last_child") == "host1")
        #expect(spans[1].string("last_child") == "host0")
        let lanes = Dictionary(uniqueKeysWithValues: events.filter { $0.name == "thread_name" }
            .map { ($0.string("name")!, $0.tid!) })
        #expect(Set(spans.map(\.tid)) == [lanes["job demo: operations"]])
        for lane in ["job demo: from host0", "job demo: from host1", "job demo: folds", "job demo: to spine0 (up)",
                     "job demo: results from spine0", "job demo: to host0 (down)", "job demo: to host1 (down)"] {
            #expect(lanes[lane] != nil, "no lane \(lane) in \(lanes.keys.sorted())")
        }
        let folds = events.filter { $0.name == "fold" }
        #expect(folds.count == 3)
        #expect(folds.allSatisfy { $0.ph == "X" && $0.dur! >= 50 })
        #expect(events.contains { $0.name == "chunk from host1" && $0.ph == "i" && $0.string("from") == "host1" })
        #expect(events.filter { $0.ph == "C" && $0.name == "job demo" && $0.int("slots in use") != nil }.count == 6)
        #expect(events.contains { $0.name == "job demo ended" })
    }

    @Test func overlappingFoldsGoOnSeparateLanes() throws {
        let scratch = try ScratchDirectory()
        defer { scratch.remove() }
        let clock = ManualClock()
        let recorder = TraceRecorder(processName: "switch leaf0", path: scratch.file("leaf0.json"),
                                     clock: clock.function)
        // Chunk 0's slot opens, chunk 1's opens, chunk 0 folds, chunk 1 folds: partly overlapping.
        clock.advance(microseconds: 100)
        recorder.observe(.chunkFolded(job: 1, opSeq: 1, chunk: 0, contributions: 2, waited: 100_000))
        clock.advance(microseconds: 100)
        recorder.observe(.chunkFolded(job: 1, opSeq: 1, chunk: 1, contributions: 2, waited: 150_000))
        clock.advance(microseconds: 100)
        recorder.observe(.chunkFolded(job: 1, opSeq: 1, chunk: 2, contributions: 2, waited: 10_000))
        try recorder.flush()
        let events = try traceEvents(at: recorder.path)
        let folds = events.filter { $0.name == "fold" }.sorted { $0.int("chunk")! < $1.int("chunk")! }
        #expect(folds.count == 3)
        #expect(folds[0].tid != folds[1].tid)
        #expect(folds[2].tid == folds[0].tid)
        #expect(partlyOverlappingSpans(events).isEmpty)
        let names = events.filter { $0.name == "thread_name" }.compactMap { $0.string("name") }
        #expect(names.contains("folds") && names.contains("folds #2"))
    }

    @Test func chunkEventsStopAtTheLimitAndTheDropIsCountedWhileOperationSpansStay() throws {
        let scratch = try ScratchDirectory()
        defer { scratch.remove() }
        let clock = ManualClock()
        let recorder = TraceRecorder(processName: "rank 0", path: scratch.file("rank.json"),
                                     limits: TraceRecorder.Limits(chunkEvents: 10), clock: clock.function)
        Self.runOperations(recorder, clock: clock, ops: 1...5)
        let written = try recorder.flush()
        let events = try traceEvents(at: recorder.path)
        #expect(events.filter { $0.category == "chunk" }.count == 10)
        #expect(events.filter { $0.category == "operation" }.count == 5)
        #expect(written.chunkEventsDropped == 30)
        let dropped = try #require(events.first { $0.ph == "M" && $0.name == "tributary_dropped_events" })
        #expect(dropped.int("chunk_events_dropped") == 30)
        #expect(dropped.int("chunk_events_limit") == 10)
        #expect(events.contains {
            $0.name == "process_labels" && ($0.string("labels") ?? "").contains("30 chunk events")
        })
    }

    @Test func operationSpansHaveALimitOfTheirOwn() throws {
        let scratch = try ScratchDirectory()
        defer { scratch.remove() }
        let clock = ManualClock()
        let recorder = TraceRecorder(processName: "rank 0", path: scratch.file("rank.json"),
                                     limits: TraceRecorder.Limits(chunkEvents: 0, operationEvents: 2),
                                     clock: clock.function)
        Self.runOperations(recorder, clock: clock, ops: 1...5)
        let written = try recorder.flush()
        let events = try traceEvents(at: recorder.path)
        #expect(events.filter { $0.category == "operation" }.compactMap { $0.int("op") } == [1, 2])
        #expect(written.operationEventsDropped == 3)
        #expect(written.chunkEventsDropped == 40)
    }

    @Test func aSwitchCountsEachOperationPastTheLimitOnce() throws {
        let scratch = try ScratchDirectory()
        defer { scratch.remove() }
        let clock = ManualClock()
        let recorder = TraceRecorder(processName: "switch leaf0", path: scratch.file("leaf0.json"),
                                     limits: TraceRecorder.Limits(operationEvents: 2), clock: clock.function)
        for op in UInt64(1)...5 {
            for chunk in UInt32(0)..<3 { Self.aggregateOneChunk(recorder, clock: clock, job: 1, op: op, chunk: chunk) }
        }
        let written = try recorder.flush()
        let events = try traceEvents(at: recorder.path)
        #expect(events.filter { $0.category == "operation" }.compactMap { $0.int("op") }.sorted() == [1, 2])
        #expect(written.operationEventsDropped == 3)
    }

    @Test func timestampsAreWallClockMicrosecondsWrittenExactly() throws {
        let scratch = try ScratchDirectory()
        defer { scratch.remove() }
        let clock = ManualClock(1_765_000_000_123_456_789)
        let recorder = TraceRecorder(processName: "rank 0", path: scratch.file("rank.json"), clock: clock.function)
        recorder.observe(.resultArrived(job: 1, opSeq: 1, chunk: 0, from: "leaf0", bytes: 0))
        try recorder.flush()
        let text = try String(contentsOfFile: recorder.path, encoding: .utf8)
        #expect(text.contains("\"ts\":1765000000123456.789"), "\(text)")
        // The real clock is the wall clock, in nanoseconds.
        let wall = Int64(Date().timeIntervalSince1970 * 1e9)
        #expect(abs(TraceClock.now() - wall) < 1_000_000_000)
    }

    @Test func namesAreEscaped() throws {
        let scratch = try ScratchDirectory()
        defer { scratch.remove() }
        let clock = ManualClock()
        let name = "rank \"0\"\n\\ tab\t bell\u{7} é"
        let recorder = TraceRecorder(processName: name, path: scratch.file("rank.json"), clock: clock.function)
        recorder.observe(.chunkSent(job: 1, opSeq: 1, chunk: 0, to: "le\"af\n0", direction: .up, bytes: 0))
        try recorder.flush()
        let events = try traceEvents(at: recorder.path)
        #expect(events.contains { $0.name == "process_name" && $0.string("name") == name })
        #expect(events.contains { $0.name == "send up to le\"af\n0" })
    }

    @Test func observingFromManyThreadsWhileFlushingKeepsEveryEvent() throws {
        let scratch = try ScratchDirectory()
        defer { scratch.remove() }
        let recorder = TraceRecorder(processName: "switch s", path: scratch.file("s.json"))
        DispatchQueue.concurrentPerform(iterations: 8) { worker in
            for chunk in 0..<500 {
                recorder.observe(.chunkArrived(job: 1, opSeq: 1, chunk: UInt32(chunk), from: "host\(worker)", bytes: 8))
                if worker == 0 && chunk % 100 == 0 { _ = try? recorder.flush() }
            }
        }
        recorder.observe(.jobEnded(job: 1))
        try recorder.flush()
        #expect(!recorder.hasUnwrittenEvents)
        let events = try traceEvents(at: recorder.path)
        #expect(formatProblems(events).isEmpty)
        #expect(events.filter { $0.category == "chunk" }.count == 4000)
        let spans = events.filter { $0.category == "operation" }
        #expect(spans.count == 1)
        #expect(spans.first?.int("arrivals") == 4000)
    }

    @Test func aFailedWriteNamesTheFile() throws {
        let recorder = TraceRecorder(processName: "rank 0", path: "/nonexistent-dir/rank.json")
        #expect(throws: TraceError.self) { try recorder.flush() }
        do {
            try recorder.flush()
        } catch {
            #expect(error.description.contains("/nonexistent-dir/rank.json"))
        }
    }
}
