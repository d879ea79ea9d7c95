import Foundation

/// A strict reader of the Prometheus text exposition format (version 0.0.4), for tests: every
/// line is a `# HELP`, a `# TYPE` or a sample; names and labels are well formed; a sample belongs
/// to a family whose TYPE came first (`_bucket`, `_sum`, `_count` to a histogram's or summary's).
public struct PrometheusText {
    public struct Sample: Equatable {
        public var name: String
        public var labels: [String: String]
        public var value: Double
    }

    public var types: [String: String] = [:]
    public var samples: [Sample] = []

    public struct ParseError: Error, CustomStringConvertible {
        public let line: Int
        public let text: String
        public let why: String
        public var description: String { "line \(line): \(why): \(text)" }
    }

    public init(_ text: String) throws {
        let validTypes: Set<String> = ["counter", "gauge", "histogram", "summary", "untyped"]
        for (index, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = String(raw)
            func fail(_ why: String) -> ParseError { ParseError(line: index + 1, text: line, why: why) }
            if line.isEmpty { continue }
            if line.hasPrefix("#") {
                let parts = line.split(separator: " ", maxSplits: 3, omittingEmptySubsequences: false).map(String.init)
                guard parts.count >= 3, parts[0] == "#" else { continue }  // a plain comment
                if parts[1] == "TYPE" {
                    guard parts.count == 4, Self.isName(parts[2]), validTypes.contains(parts[3]) else {
                        throw fail("malformed TYPE")
                    }
                    guard types[parts[2]] == nil else { throw fail("second TYPE for \(parts[2])") }
                    types[parts[2]] = parts[3]
                } else if parts[1] == "HELP" {
                    guard Self.isName(parts[2]) else { throw fail("malformed HELP") }
                }
                continue
            }
            var rest = Substring(line)
            let name = String(rest.prefix { $0.isLetter || $0.isNumber || $0 == "_" || $0 == ":" })
            guard Self.isName(name) else { throw fail("bad metric name") }
            rest = rest.dropFirst(name.count)
            var labels: [String: String] = [:]
            if rest.first == "{" {
                rest = rest.dropFirst()
                while rest.first != "}" {
                    let label = String(rest.prefix { $0.isLetter || $0.isNumber || $0 == "_" })
                    guard !label.isEmpty, !label.first!.isNumber else { throw fail("bad label name") }
                    rest = rest.dropFirst(label.count)
                    guard rest.hasPrefix("=\"") else { throw fail("label without =\"") }
                    rest = rest.dropFirst(2)
                    var value = ""
                    while let c = rest.first, c != "\"" {
                        rest = rest.dropFirst()
                        if c == "\\" {
                            guard let escaped = rest.first, "\\\"n".contains(escaped) else { throw fail("bad escape") }
                            value.append(escaped == "n" ? "\n" : escaped)
                            rest = rest.dropFirst()
                        } else {
                            value.append(c)
                        }
                    }
                    guard rest.first == "\"" else { throw fail("unterminated label value") }
                    rest = rest.dropFirst()
                    guard labels[label] == nil else { throw fail("label \(label) twice") }
                    labels[label] = value
                    if rest.first == "," { rest = rest.dropFirst() }
                }
                rest = rest.dropFirst()
            }
            let fields = rest.split(separator: " ")
            guard fields.count == 1 || fields.count == 2, rest.first == " " else { throw fail("expected ' value'") }
            let valueText = String(fields[0])
            guard let value = Double(valueText) ?? ["+Inf": .infinity, "-Inf": -.infinity, "NaN": .nan][valueText] else {
                throw fail("bad value")
            }
            if fields.count == 2 && Int64(fields[1]) == nil { throw fail("bad timestamp") }
            let family = types[name] != nil ? name : ["_bucket", "_sum", "_count"].compactMap { suffix -> String? in
                guard name.hasSuffix(suffix) else { return nil }
                let base = String(name.dropLast(suffix.count))
                return ["histogram", "summary"].contains(types[base]) ? base : nil
            }.first
            guard family != nil else { throw fail("sample before its TYPE") }
            samples.append(Sample(name: name, labels: labels, value: value))
        }
    }

    static func isName(_ s: String) -> Bool {
        guard let first = s.first, first.isLetter || first == "_" || first == ":" else { return false }
        return s.allSatisfy { ($0.isLetter || $0.isNumber || $0 == "_" || $0 == ":") && $0.isASCII }
    }

    /// The sum of every sample named `name` whose labels include `matching`.
    public func sum(_ name: String, _ matching: [String: String] = [:]) -> Double {
        samples.filter { s in s.name == name && matching.allSatisfy { s.labels[$0.key] == $0.value } }
            .reduce(0) { $0 + $1.value }
    }
}
