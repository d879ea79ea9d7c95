/// Human-unit parsing for topology files: link rates, times, byte sizes and loss fractions.
///
/// Topology files are written by people, so they say `100Gbit`, `2us`, `256KiB` and `0.1%` rather than
/// `1e11`, `2e-6`, `262144` and `0.001`. Every parser returns nil for anything it does not fully
/// understand — a trailing `z`, a unit of the wrong kind, a negative value — so the caller can name the
/// offending text and its line instead of guessing. Bare numbers are accepted in the base unit
/// (bits/s, seconds, bytes, fraction).
public enum TopologyUnits {
    /// Parses a link rate in bits per second: `100Gbit`, `25Gbps`, `800Mbit`, `1.5Gbit`, `10Gbit/s`,
    /// `1Tbit`, `64kbit`, `2Gibit`, or a bare number of bits/s. Prefixes are decimal (as `tc` and link
    /// vendors use them) unless written `Ki`/`Mi`/`Gi`/`Ti`; `bps` means bits, never bytes. Must be > 0.
    public static func rate(_ text: String) -> Double? {
        var s = trimmed(text)
        if s.hasSuffix("/s") { s.removeLast(2) }
        let (number, unit) = split(s)
        guard let value = number else { return nil }
        let lower = unit.lowercased()
        var body = lower
        if body.hasSuffix("bit") {
            body.removeLast(3)
        } else if body.hasSuffix("bps") {
            body.removeLast(3)
        } else if body.isEmpty {
            return value > 0 ? value : nil
        } else {
            return nil
        }
        guard let scale = prefixScale(body), value > 0 else { return nil }
        let result = value * scale
        return result.isFinite ? result : nil
    }

    /// Parses a time in seconds: `2us`, `1.5ms`, `30ms`, `100ns`, `1s`, `2µs`, or a bare number of
    /// seconds. Must be >= 0.
    public static func duration(_ text: String) -> Double? {
        let (number, unit) = split(trimmed(text))
        guard let value = number, value >= 0 else { return nil }
        let scale: Double
        switch unit {
        case "": scale = 1
        case "s", "sec": scale = 1
        case "ms": scale = 1e-3
        case "us", "µs", "μs": scale = 1e-6
        case "ns": scale = 1e-9
        default: return nil
        }
        return value * scale
    }

    /// Parses a byte size: `256KiB`, `16MiB`, `1GiB`, `4KB` (decimal), `512B`, or a bare number of
    /// bytes. The result must be a whole, positive number of bytes that fits an `Int`.
    public static func size(_ text: String) -> Int? {
        let (number, unit) = split(trimmed(text))
        guard let value = number, value > 0 else { return nil }
        let scale: Double
        switch unit {
        case "", "B": scale = 1
        case "KiB", "K", "k": scale = 1024
        case "MiB", "M": scale = 1024 * 1024
        case "GiB", "G": scale = 1024 * 1024 * 1024
        case "TiB", "T": scale = 1024 * 1024 * 1024 * 1024
        case "KB", "kB": scale = 1e3
        case "MB": scale = 1e6
        case "GB": scale = 1e9
        case "TB": scale = 1e12
        default: return nil
        }
        let bytes = value * scale
        guard bytes == bytes.rounded(), bytes < 9e18 else { return nil }
        return Int(bytes)
    }

    /// Parses a loss fraction: `0.1%` (= 0.001) or a bare fraction `0.001`. Must lie in [0, 1].
    public static func loss(_ text: String) -> Double? {
        let (number, unit) = split(trimmed(text))
        guard let value = number else { return nil }
        let fraction: Double
        switch unit {
        case "": fraction = value
        case "%": fraction = value / 100
        default: return nil
        }
        return (0...1).contains(fraction) ? fraction : nil
    }

    /// Renders a rate the way a person would write it (`10Gbit`, `1.5Gbit`, `800Mbit`).
    public static func formatRate(_ bitsPerSecond: Double) -> String {
        let steps: [(Double, String)] = [(1e12, "Tbit"), (1e9, "Gbit"), (1e6, "Mbit"), (1e3, "kbit")]
        for (scale, unit) in steps where bitsPerSecond >= scale {
            return compact(bitsPerSecond / scale) + unit
        }
        return compact(bitsPerSecond) + "bit"
    }

    /// Renders a time (`2us`, `1.5ms`, `10ms`, `0s`).
    public static func formatDuration(_ seconds: Double) -> String {
        if seconds == 0 { return "0s" }
        let steps: [(Double, String)] = [(1, "s"), (1e-3, "ms"), (1e-6, "us")]
        for (scale, unit) in steps where seconds >= scale {
            return compact(seconds / scale) + unit
        }
        return compact(seconds / 1e-9) + "ns"
    }

    /// Renders a byte size with binary units where it divides evenly (`256 KiB`, `16 MiB`, `1000 B`).
    public static func formatSize(_ bytes: Int) -> String {
        let steps: [(Int, String)] = [(1 << 40, "TiB"), (1 << 30, "GiB"), (1 << 20, "MiB"), (1 << 10, "KiB")]
        for (scale, unit) in steps where bytes >= scale && bytes % scale == 0 {
            return "\(bytes / scale) \(unit)"
        }
        return "\(bytes) B"
    }

    // MARK: - Helpers

    private static func trimmed(_ text: String) -> String {
        var s = Substring(text)
        while let first = s.first, first.isWhitespace { s.removeFirst() }
        while let last = s.last, last.isWhitespace { s.removeLast() }
        return String(s)
    }

    /// Splits `1.5 Gbit` into (1.5, "Gbit"). The number must be plain decimal (optional fraction and
    /// exponent): `Double(_:)` alone would also take `inf`, `nan` and hex floats, which no person means.
    private static func split(_ s: String) -> (Double?, String) {
        let scalars = Array(s.unicodeScalars)
        var i = 0
        func digits() -> Int {
            let start = i
            while i < scalars.count, ("0"..."9").contains(scalars[i]) { i += 1 }
            return i - start
        }
        var mantissaDigits = digits()
        if i < scalars.count, scalars[i] == "." {
            i += 1
            mantissaDigits += digits()
        }
        guard mantissaDigits > 0 else { return (nil, s) }
        if i < scalars.count, scalars[i] == "e" || scalars[i] == "E" {
            // Only an exponent if digits follow; otherwise `e` begins a unit (there is none today).
            let save = i
            i += 1
            if i < scalars.count, scalars[i] == "+" || scalars[i] == "-" { i += 1 }
            if digits() == 0 { i = save }
        }
        let numberText = String(String.UnicodeScalarView(scalars[0..<i]))
        var rest = Substring(String(String.UnicodeScalarView(scalars[i...])))
        while let first = rest.first, first == " " { rest.removeFirst() }
        guard let value = Double(numberText), value.isFinite else { return (nil, s) }
        return (value, String(rest))
    }

    /// Decimal (k, M, G, T) or binary (Ki, Mi, Gi, Ti) scale for a lower-cased prefix.
    private static func prefixScale(_ prefix: String) -> Double? {
        switch prefix {
        case "": return 1
        case "k": return 1e3
        case "m": return 1e6
        case "g": return 1e9
        case "t": return 1e12
        case "ki": return 1024
        case "mi": return 1024 * 1024
        case "gi": return 1024 * 1024 * 1024
        case "ti": return 1024 * 1024 * 1024 * 1024
        default: return nil
        }
    }

    /// `10` rather than `10.0`, `1.5` stays `1.5`.
    private static func compact(_ value: Double) -> String {
        if value == value.rounded(), abs(value) < 1e15 { return String(Int(value)) }
        var text = String(value)
        if text.contains("e") { return text }
        while text.hasSuffix("0") { text.removeLast() }
        if text.hasSuffix(".") { text.removeLast() }
        return text
    }
}
