import Foundation
import TraceEvents

/// A clock the test moves by hand (nanoseconds since the epoch).
final class ManualClock: @unchecked Sendable {
    private let lock = NSLock()
    private var value: Int64

    init(_ start: Int64 = 1_700_000_000_000_000_000) { value = start }

    var now: Int64 { lock.withLock { value } }

    func advance(microseconds: Int64) {
        lock.withLock { value += microseconds * 1000 }
    }

    var function: @Sendable () -> Int64 { { self.now } }
}

/// A private directory for one test's files, removed by `remove()`.
struct ScratchDirectory {
    let path: String

    init() throws {
        path = FileManager.default.temporaryDirectory.appendingPathComponent("trace-test-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    func file(_ name: String) -> String { "\(path)/\(name)" }

    func remove() { try? FileManager.default.removeItem(atPath: path) }
}

struct TraceFileProblem: Error, CustomStringConvertible {
    var description: String
}

/// A trace file as JSONSerialization reads it: the envelope checked, the events returned.
func traceEvents(at path: String) throws -> [[String: Any]] {
    guard let data = FileManager.default.contents(atPath: path) else {
        throw TraceFileProblem(description: "no \(path)")
    }
    guard let root = try JSONSerialization.jsonObject(with: data) as? [String: Any] else {
        throw TraceFileProblem(description: "\(path) is not a JSON object")
    }
    guard root["displayTimeUnit"] as? String == "ms" else {
        throw TraceFileProblem(description: "\(path) has no displayTimeUnit")
    }
    guard let events = root["traceEvents"] as? [[String: Any]] else {
        throw TraceFileProblem(description: "\(path) has no traceEvents array")
    }
    return events
}

extension Dictionary where Key == String, Value == Any {
    var ph: String? { self["ph"] as? String }
    var name: String? { self["name"] as? String }
    var category: String? { self["cat"] as? String }
    var pid: Int? { (self["pid"] as? NSNumber)?.intValue }
    var tid: Int? { (self["tid"] as? NSNumber)?.intValue }
    var ts: Double? { (self["ts"] as? NSNumber)?.doubleValue }
    var dur: Double? { (self["dur"] as? NSNumber)?.doubleValue }
    var args: [String: Any] { self["args"] as? [String: Any] ?? [:] }
    func int(_ key: String) -> Int? { (args[key] as? NSNumber)?.intValue }
    func string(_ key: String) -> String? { args[key] as? String }
}

/// What every event of a trace must have to be shown: a phase, a name, a pid and a tid, a
/// timestamp unless it is metadata, a duration of at least zero if it is a span. The problems found.
func formatProblems(_ events: [[String: Any]]) -> [String] {
    var problems: [String] = []
    for (index, event) in events.enumerated() {
        guard let ph = event.ph, event.name != nil, event.pid != nil, event.tid != nil else {
            problems.append("event \(index) lacks ph, name, pid or tid: \(event)")
            continue
        }
        if ph != "M" && event.ts == nil { problems.append("event \(index) has no ts: \(event)") }
        if ph == "X" && !(event.dur.map { $0 >= 0 } ?? false) {
            problems.append("span \(index) has no dur ≥ 0: \(event)")
        }
    }
    return problems
}

/// Spans on one lane that overlap without nesting (Perfetto would drop them).
func partlyOverlappingSpans(_ events: [[String: Any]]) -> [String] {
    var byLane: [[Int]: [(Double, Double)]] = [:]
    for event in events where event.ph == "X" {
        byLane[[event.pid!, event.tid!], default: []].append((event.ts!, event.ts! + event.dur!))
    }
    var problems: [String] = []
    for (lane, spans) in byLane {
        let sorted = spans.sorted { $0.0 < $1.0 }
        for (a, b) in zip(sorted, sorted.dropFirst()) where b.0 < a.1 && b.1 > a.1 {
            problems.append("lane \(lane): \(a) and \(b) overlap")
        }
    }
    return problems
}
