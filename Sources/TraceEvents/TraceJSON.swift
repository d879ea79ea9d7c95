/// The text of a trace file, written by hand rather than by JSONEncoder: a process may hold
/// hundreds of thousands of events, and rewrites its file every few seconds.
///
/// The layout is fixed so `TraceMerger` can merge files without parsing them: the envelope's
/// opening on the first line, one event per line, each starting `{"pid":P,"tid":T,`, and the
/// envelope's end on the last line. Strings are escaped, so no event spans two lines.
enum TraceJSON {
    static let opening = Array("{\"traceEvents\":[\n".utf8)
    static let separator = Array(",\n".utf8)
    static let closing = Array("\n],\"displayTimeUnit\":\"ms\"}\n".utf8)

    /// `event` as one line (without separator), in process `pid`.
    static func append(_ event: TraceEvent, pid: Int32, to out: inout [UInt8]) {
        out.append(contentsOf: "{\"pid\":\(pid),\"tid\":\(event.tid),\"ph\":\"\(event.phase.rawValue)\",\"name\":".utf8)
        appendString(event.name, to: &out)
        if let category = event.category {
            out.append(contentsOf: ",\"cat\":".utf8)
            appendString(category, to: &out)
        }
        if event.phase != .metadata {
            out.append(contentsOf: ",\"ts\":".utf8)
            appendMicroseconds(event.time, to: &out)
        }
        if let duration = event.duration {
            out.append(contentsOf: ",\"dur\":".utf8)
            appendMicroseconds(max(0, duration), to: &out)
        }
        if event.phase == .instant {
            // Thread scope: the mark sits on its lane.
            out.append(contentsOf: ",\"s\":\"t\"".utf8)
        }
        if !event.args.isEmpty {
            out.append(contentsOf: ",\"args\":{".utf8)
            for (index, (key, value)) in event.args.enumerated() {
                if index > 0 { out.append(UInt8(ascii: ",")) }
                appendString(key, to: &out)
                out.append(UInt8(ascii: ":"))
                appendValue(value, to: &out)
            }
            out.append(UInt8(ascii: "}"))
        }
        out.append(UInt8(ascii: "}"))
    }

    /// Nanoseconds as microseconds with three decimals, exactly (no floating point on the way).
    static func appendMicroseconds(_ nanoseconds: Int64, to out: inout [UInt8]) {
        let negative = nanoseconds < 0
        let magnitude = nanoseconds.magnitude
        if negative { out.append(UInt8(ascii: "-")) }
        out.append(contentsOf: String(magnitude / 1000).utf8)
        let fraction = magnitude % 1000
        out.append(UInt8(ascii: "."))
        out.append(UInt8(ascii: "0") + UInt8(fraction / 100))
        out.append(UInt8(ascii: "0") + UInt8(fraction / 10 % 10))
        out.append(UInt8(ascii: "0") + UInt8(fraction % 10))
    }

    static func appendValue(_ value: TraceValue, to out: inout [UInt8]) {
        switch value {
        case .int(let n): out.append(contentsOf: String(n).utf8)
        case .double(let d): out.append(contentsOf: (d.isFinite ? "\(d)" : "null").utf8)
        case .string(let s): appendString(s, to: &out)
        case .bool(let b): out.append(contentsOf: (b ? "true" : "false").utf8)
        }
    }

    /// A JSON string literal: quotes, backslashes and control characters escaped (so never a raw newline).
    static func appendString(_ string: String, to out: inout [UInt8]) {
        out.append(UInt8(ascii: "\""))
        for byte in string.utf8 {
            switch byte {
            case UInt8(ascii: "\""): out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "\"")])
            case UInt8(ascii: "\\"): out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "\\")])
            case UInt8(ascii: "\n"): out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "n")])
            case UInt8(ascii: "\t"): out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "t")])
            case 0..<0x20:
                let hex = Array("0123456789abcdef".utf8)
                out.append(contentsOf: Array("\\u00".utf8))
                out.append(hex[Int(byte >> 4)])
                out.append(hex[Int(byte & 0xF)])
            default: out.append(byte)
            }
        }
        out.append(UInt8(ascii: "\""))
    }
}
