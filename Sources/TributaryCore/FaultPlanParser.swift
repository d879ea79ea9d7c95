/// The `--faults` grammar:
///
///     SPEC   := ITEM (';' ITEM)*
///     ITEM   := 'seed=' UINT64 | KIND ':' TARGET ['@' PARAM (',' PARAM)*]
///     KIND   := kill | hang | drop | delay | corrupt | slow
///     TARGET := NODE | NODE '-' NODE | 'rank=' RANK
///     PARAM  := op=N | chunk=K | frames=P | ms=M | job=NAME
///
/// `kill:leaf0@op=3`, `hang:spine0@chunk=40`, `drop:h2-leaf0@frames=0.01`, `delay:leaf1-spine0@ms=5`,
/// `corrupt:leaf0@op=2,chunk=1`, `slow:rank=5@ms=20`. Whitespace around items and tokens is ignored.
/// Values past what a test could mean (a 10-minute delay, an op 10⁹ deep) are refused rather than
/// taken, since a typo there would otherwise make a run that silently never injects anything.
extension FaultPlan {
    /// Largest `op=`: far past any run, small enough that a typo (an extra zero row) stands out.
    public static let maxOpSeq: UInt64 = 1_000_000_000
    public static let maxChunk: UInt32 = 100_000_000
    public static let maxRank = 1_000_000
    /// A frame held longer than this is a link that is down, which `drop` says better.
    public static let maxDelayMilliseconds = 10_000
    public static let maxSlowMilliseconds = 60_000
    static let maxJobName = 128

    public static func parse(_ spec: String) throws(FaultSpecError) -> FaultPlan {
        var seed: UInt64?
        var faults: [Fault] = []
        var sawItem = false
        for item in split(spec, at: ";", from: 1) {
            guard let (text, position) = trimmed(item.text, item.position) else {
                // A trailing `;` is harmless; an empty item between two is a mistake worth naming.
                if item.position + item.text.count <= spec.count { throw .emptyItem(position: item.position) }
                continue
            }
            sawItem = true
            if text.hasPrefix("seed=") {
                guard seed == nil else { throw .duplicateSeed(position: position) }
                let value = String(text.dropFirst(5)).trimmingSpaces
                guard let s = UInt64(value) else {
                    throw .badValue(parameter: "seed", value: value, position: position + 5,
                                    expected: "an integer 0...\(UInt64.max)")
                }
                seed = s
                continue
            }
            faults.append(try parseFault(text, at: position))
        }
        guard sawItem else { throw .empty }
        guard faults.count <= maxFaults else { throw .tooManyFaults(count: faults.count, limit: maxFaults) }
        return FaultPlan(seed: seed ?? defaultSeed, faults: faults)
    }

    private static func parseFault(_ text: String, at position: Int) throws(FaultSpecError) -> Fault {
        guard let colon = text.firstIndex(of: ":") else {
            let word = String(text.prefix { $0 != "@" })
            throw .unknownKind(word, position: position)
        }
        let kindWord = String(text[..<colon]).trimmingSpaces
        let rest = String(text[text.index(after: colon)...])
        let restPosition = position + text.distance(from: text.startIndex, to: colon) + 1
        let (targetText, parametersText): (String, String?)
        if let at = rest.firstIndex(of: "@") {
            targetText = String(rest[..<at])
            parametersText = String(rest[rest.index(after: at)...])
        } else {
            (targetText, parametersText) = (rest, nil)
        }
        let allowed: [String]
        switch kindWord {
        case "kill", "hang": allowed = ["op", "chunk", "job"]
        case "drop", "corrupt": allowed = ["frames", "op", "chunk", "job"]
        case "delay": allowed = ["ms", "frames", "op", "chunk", "job"]
        case "slow": allowed = ["ms", "op", "job"]
        default: throw .unknownKind(kindWord, position: position)
        }
        let target = try parseTarget(targetText, kind: kindWord, at: restPosition)
        var values: [String: (value: String, position: Int)] = [:]
        if let parametersText {
            let parametersPosition = restPosition + targetText.count + 1
            for piece in split(parametersText, at: ",", from: parametersPosition) {
                guard let (parameter, p) = trimmed(piece.text, piece.position),
                      let equals = parameter.firstIndex(of: "=") else {
                    throw .badParameter(piece.text, position: piece.position)
                }
                let key = String(parameter[..<equals]).trimmingSpaces
                let value = String(parameter[parameter.index(after: equals)...]).trimmingSpaces
                guard allowed.contains(key) else {
                    throw .unknownParameter(key, kind: kindWord, position: p, allowed: allowed.map { "\($0)=" })
                }
                guard values[key] == nil else { throw .duplicateParameter(key, position: p) }
                values[key] = (value, p + parameter.distance(from: parameter.startIndex, to: equals) + 1)
            }
        }
        func number<T: FixedWidthInteger>(_ key: String, _ range: ClosedRange<T>, _ what: String) throws(FaultSpecError)
            -> T? {
            guard let (value, p) = values[key] else { return nil }
            guard let n = T(value), range.contains(n) else {
                throw .badValue(parameter: key, value: value, position: p, expected: "\(what) \(range.lowerBound)...\(range.upperBound)")
            }
            return n
        }
        func required(_ key: String) throws(FaultSpecError) {
            if values[key] == nil { throw .missingParameter(key, kind: kindWord, position: position) }
        }
        var fault = Fault(kind: .kill, target: target)
        fault.opSeq = try number("op", 1...maxOpSeq, "an operation")
        fault.chunk = try number("chunk", 0...maxChunk, "a chunk index")
        if let (value, p) = values["frames"] {
            guard let f = parseFraction(value), f > 0, f <= 1 else {
                throw .badValue(parameter: "frames", value: value, position: p,
                                expected: "a fraction of frames above 0 and at most 1 (0.01 or 1%)")
            }
            fault.fraction = f
        }
        if let (value, p) = values["job"] {
            guard !value.isEmpty, value.count <= maxJobName, !value.contains(where: { $0 == ";" || $0 == "," }) else {
                throw .badValue(parameter: "job", value: value, position: p, expected: "a job name of 1...\(maxJobName) characters")
            }
            fault.job = value
        }
        switch kindWord {
        case "kill": fault.kind = .kill
        case "hang": fault.kind = .hang
        case "drop": fault.kind = .drop
        case "corrupt": fault.kind = .corrupt
        case "delay":
            try required("ms")
            fault.kind = .delay(milliseconds: try number("ms", 1...maxDelayMilliseconds, "milliseconds")!)
        default:
            try required("ms")
            fault.kind = .slow(milliseconds: try number("ms", 1...maxSlowMilliseconds, "milliseconds")!)
        }
        return fault
    }

    private static func parseTarget(_ raw: String, kind: String, at position: Int) throws(FaultSpecError)
        -> Fault.Target {
        let text = raw.trimmingSpaces
        if text.hasPrefix("rank=") {
            let value = String(text.dropFirst(5)).trimmingSpaces
            guard kind == "slow" else {
                throw .badTarget(text, kind: kind, position: position, reason: "only slow takes a rank; \(kind) takes "
                                 + (kind == "kill" || kind == "hang" ? "a switch" : "a node or a link (NODE-NODE)"))
            }
            guard let r = Int(value), (0..<maxRank).contains(r) else {
                throw .badValue(parameter: "rank", value: value, position: position + 5,
                                expected: "a rank 0...\(maxRank - 1)")
            }
            return .rank(r)
        }
        if kind == "slow" {
            throw .badTarget(text, kind: kind, position: position, reason: "slow takes rank=R")
        }
        guard !text.isEmpty else {
            throw .badTarget(text, kind: kind, position: position, reason: "no target named")
        }
        let forbidden: Set<Character> = ["=", ",", ":", "@", ";", " ", "\t"]
        if let bad = text.first(where: { forbidden.contains($0) }) {
            throw .badTarget(text, kind: kind, position: position, reason: "a node name holds no `\(bad)`")
        }
        if text.hasPrefix("-") || text.hasSuffix("-") {
            throw .badTarget(text, kind: kind, position: position, reason: "a link is NODE-NODE")
        }
        return .named(text)
    }

    /// `0.01`, `1%`.
    static func parseFraction(_ text: String) -> Double? {
        if text.hasSuffix("%") { return Double(text.dropLast()).map { $0 / 100 } }
        return Double(text)
    }

    /// Pieces of `text` between `separator`s, each with its 1-based position in the whole SPEC.
    private static func split(_ text: String, at separator: Character, from start: Int)
        -> [(text: String, position: Int)] {
        var out: [(String, Int)] = []
        var current = ""
        var position = start
        var offset = start
        for character in text {
            if character == separator {
                out.append((current, position))
                current = ""
                position = offset + 1
            } else {
                current.append(character)
            }
            offset += 1
        }
        out.append((current, position))
        return out
    }

    /// The piece without surrounding blanks and where it then starts; nil when nothing is left.
    private static func trimmed(_ text: String, _ position: Int) -> (String, Int)? {
        let leading = text.prefix { $0 == " " || $0 == "\t" || $0 == "\n" }.count
        let body = text.trimmingSpaces
        return body.isEmpty ? nil : (body, position + leading)
    }
}

fileprivate extension String {
    var trimmingSpaces: String {
        var s = Substring(self)
        while let c = s.first, c == " " || c == "\t" || c == "\n" { s.removeFirst() }
        while let c = s.last, c == " " || c == "\t" || c == "\n" { s.removeLast() }
        return String(s)
    }
}
