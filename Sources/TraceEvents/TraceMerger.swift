import Foundation

/// What a merge wrote.
public struct TraceMerge: Sendable, Equatable {
    /// Per-process traces merged (one process each in the output).
    public var processes: Int
    /// Events in the output.
    public var events: Int
    public var bytes: Int
    /// Files left out, each with why.
    public var skipped: [String]
}

/// Merges the per-process traces of a run (the files `TraceRecorder` writes, one per process,
/// in one directory) into one trace file. Each process gets its own pid and lanes of their own:
/// pids 1…n in the files' natural order (aggregator-…, then worker-2 before worker-10), tids
/// numbered after them — processes on different machines, or a pid reused, cannot collide, and
/// no lane's tid is another process's pid.
///
/// The recorder's layout (envelope on its own lines, one event per line starting
/// `{"pid":P,"tid":T,`) lets the merge renumber without parsing the rest of each event: the
/// timestamps stay exactly as written and a large trace costs little memory.
public enum TraceMerger {
    @discardableResult
    public static func merge(directory: String, into output: String) throws(TraceError) -> TraceMerge {
        let names: [String]
        do {
            names = try FileManager.default.contentsOfDirectory(atPath: directory)
        } catch {
            throw .cannotList(directory: directory, reason: "\(error)")
        }
        let outputName = URL(fileURLWithPath: output).standardizedFileURL.path
        let files = names.filter { $0.hasSuffix(".json") }
            .sorted { $0.compare($1, options: [.numeric]) == .orderedAscending }
            .map { "\(directory)/\($0)" }
            .filter { URL(fileURLWithPath: $0).standardizedFileURL.path != outputName }
        var parsed: [[TraceLine]] = []
        var skipped: [String] = []
        for file in files {
            guard let data = FileManager.default.contents(atPath: file) else {
                skipped.append("\(file): unreadable")
                continue
            }
            do {
                parsed.append(try lines(of: [UInt8](data)))
            } catch {
                skipped.append("\(file): \(error.reason)")
            }
        }
        guard !parsed.isEmpty else { throw .nothingToMerge(directory: directory, skipped: skipped) }
        let merged = renumber(parsed)
        try AtomicFile.write(merged.pieces, to: output)
        return TraceMerge(processes: parsed.count, events: merged.events,
                          bytes: merged.pieces.map(\.count).reduce(0, +), skipped: skipped)
    }

    /// One event line of a per-process file: its lane, and the text after `{"pid":P,"tid":T,`.
    struct TraceLine {
        var tid: Int
        var rest: ArraySlice<UInt8>
    }

    struct Malformed: Error {
        var reason: String
    }

    /// The event lines of a file in the recorder's layout.
    static func lines(of bytes: [UInt8]) throws(Malformed) -> [TraceLine] {
        let opening = TraceJSON.opening, closing = TraceJSON.closing
        guard bytes.count >= opening.count + closing.count, bytes.starts(with: opening),
              bytes.suffix(closing.count).elementsEqual(closing) else {
            throw Malformed(reason: "not a trace written by tributary (envelope)")
        }
        let body = bytes[opening.count..<(bytes.count - closing.count)]
        var out: [TraceLine] = []
        for var line in body.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false) {
            if line.last == UInt8(ascii: ",") { line = line.dropLast() }
            guard let (tid, rest) = prefix(of: line) else {
                throw Malformed(reason: "event \(out.count + 1) does not start with pid and tid")
            }
            out.append(TraceLine(tid: tid, rest: rest))
        }
        return out
    }

    /// `{"pid":<digits>,"tid":<digits>,`: the tid and what follows.
    private static func prefix(of line: ArraySlice<UInt8>) -> (Int, ArraySlice<UInt8>)? {
        let pidKey = Array("{\"pid\":".utf8), tidKey = Array(",\"tid\":".utf8)
        guard line.starts(with: pidKey) else { return nil }
        var index = line.startIndex + pidKey.count
        func digits() -> Int? {
            var value = 0, count = 0
            while index < line.endIndex, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(line[index]), count < 12 {
                value = value * 10 + Int(line[index] - UInt8(ascii: "0"))
                index += 1
                count += 1
            }
            return count > 0 ? value : nil
        }
        guard digits() != nil, line[index...].starts(with: tidKey) else { return nil }
        index += tidKey.count
        guard let tid = digits(), index < line.endIndex, line[index] == UInt8(ascii: ",") else { return nil }
        return (tid, line[(index + 1)...])
    }

    /// The merged file's pieces: each file's events under pid = its position (from 1) and tids
    /// numbered after the pids, and a sort index per process keeping the files' order.
    static func renumber(_ files: [[TraceLine]]) -> (pieces: [[UInt8]], events: Int) {
        var pieces: [[UInt8]] = [TraceJSON.opening]
        var nextTid = files.count + 1
        var events = 0
        for (index, lines) in files.enumerated() {
            let pid = index + 1
            var tids: [Int: Int] = [:]
            var out: [UInt8] = []
            out.reserveCapacity(lines.reduce(0) { $0 + $1.rest.count + 24 })
            for line in lines {
                let tid: Int
                if let known = tids[line.tid] {
                    tid = known
                } else {
                    tid = nextTid
                    tids[line.tid] = tid
                    nextTid += 1
                }
                if events > 0 { out.append(contentsOf: TraceJSON.separator) }
                out.append(contentsOf: "{\"pid\":\(pid),\"tid\":\(tid),".utf8)
                out.append(contentsOf: line.rest)
                events += 1
            }
            if events > 0 { out.append(contentsOf: TraceJSON.separator) }
            let laneForSortIndex = tids.values.min() ?? nextTid
            if tids.isEmpty { nextTid += 1 }
            TraceJSON.append(TraceEvent(.metadata, name: "process_sort_index", tid: laneForSortIndex,
                                        args: [("sort_index", .int(pid))]), pid: Int32(pid), to: &out)
            events += 1
            pieces.append(out)
        }
        pieces.append(TraceJSON.closing)
        return (pieces, events)
    }
}
