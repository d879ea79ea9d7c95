import Foundation
import Testing
import TraceEvents
import TributaryCore

@Suite struct PeriodicFlushTests {
    @Test func writesWhileThereIsNewsAndStopsWhenStopped() throws {
        let scratch = try ScratchDirectory()
        defer { scratch.remove() }
        let recorder = TraceRecorder(processName: "rank 0", path: scratch.file("rank.json"))
        let periodic = PeriodicFlush(recorder, every: .milliseconds(20)) { _ in }
        recorder.observe(.resultArrived(job: 1, opSeq: 1, chunk: 0, from: "leaf0", bytes: 0))
        let written = { (try? traceEvents(at: recorder.path))?.contains { $0.name == "result from leaf0" } ?? false }
        let deadline = Date().addingTimeInterval(5)
        while !written() && Date() < deadline { usleep(10_000) }
        #expect(written())
        #expect(!recorder.hasUnwrittenEvents)
        periodic.stop()
        recorder.observe(.resultArrived(job: 1, opSeq: 1, chunk: 1, from: "leaf0", bytes: 0))
        usleep(200_000)
        #expect(recorder.hasUnwrittenEvents)
    }

    @Test func aFailingWriteIsReportedOnce() throws {
        let recorder = TraceRecorder(processName: "rank 0", path: "/nonexistent-dir/rank.json")
        let failures = FailureCount()
        let periodic = PeriodicFlush(recorder, every: .milliseconds(10)) { _ in failures.add() }
        for chunk in UInt32(0)..<20 {
            recorder.observe(.resultArrived(job: 1, opSeq: 1, chunk: chunk, from: "leaf0", bytes: 0))
            usleep(15_000)
        }
        periodic.stop()
        #expect(failures.count == 1)
    }
}

final class FailureCount: @unchecked Sendable {
    private let lock = NSLock()
    private var value = 0
    func add() { lock.withLock { value += 1 } }
    var count: Int { lock.withLock { value } }
}
