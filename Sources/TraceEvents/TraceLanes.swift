/// The lanes of one process (the trace format's threads): one per name, numbered from 1 in the
/// order they first appear, which is also the order they are shown in. Past `limit` names every
/// further lane is the one overflow lane, so a fabric serving job after job stays bounded.
struct LaneTable {
    static let limit = 4096
    static let overflowName = "more lanes"
    private(set) var names: [String] = []
    private var tids: [String: Int] = [:]

    mutating func tid(_ name: String) -> Int {
        if let tid = tids[name] { return tid }
        let lane = names.count < Self.limit ? name : Self.overflowName
        if let tid = tids[lane] { return tid }
        names.append(lane)
        tids[lane] = names.count
        return names.count
    }
}

/// Spans that may overlap in time (the folds of the chunks in flight, operations that straddle)
/// spread over numbered lanes — `folds`, `folds #2`, … — so that no two overlap on one lane:
/// Perfetto draws a lane's spans as a nesting, and a span that only partly overlaps another is
/// dropped. The first lane that is free again takes the span.
struct SpanLanes {
    /// A lane is free this long after its last span ended: readers that parse timestamps as
    /// doubles round epoch microseconds to about a quarter of a microsecond.
    static let margin: Int64 = 1_000

    let name: String
    private var ends: [Int64] = []

    init(name: String) { self.name = name }

    /// The lane's name for a span from `start` to `end` (nanoseconds).
    mutating func place(start: Int64, end: Int64) -> String {
        let index = ends.firstIndex { $0 + Self.margin <= start } ?? ends.count
        if index == ends.count { ends.append(end) } else { ends[index] = end }
        return index == 0 ? name : "\(name) #\(index + 1)"
    }
}
