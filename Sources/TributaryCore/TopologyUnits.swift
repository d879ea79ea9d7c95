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
        guard number != nil else { return nil }
        let lower = unit.lowercased()
        var body = lower
        if body.hasSuffix("bit") {
            body.removeLast(3)
        } else if body.hasSuffix("bps") {
            body.removeLast(3)
        } else if !body.isEmpty {
            return nil
        }
        guard let result = prefixScaled(number!, body), result > 0, result.isFinite else { return nil }
        return result
    }

    /// Parses a time in seconds: `2us`, `1.5ms`, `30ms`, `100ns`, `1s`, `2µs`, or a bare number of
    /// seconds. Must be >= 0.
    public static func duration(_ text: String) -> Double? {
        let (number, unit) = split(trimmed(text))
        guard let number else { return nil }
        let exponent: Int
        switch unit {
        case "", "s", "sec": exponent = 0
        case "ms": exponent = -3
        case "us", "µs", "μs": exponent = -6
        case "ns": exponent = -9
        default: return nil
        }
        guard let value = number.scaled(exponent), value >= 0 else { return nil }
        return value
    }

    /// Parses a byte size: `256KiB`, `16MiB`, `1GiB`, `4KB` (decimal), `512B`, or a bare number of
    /// bytes. The result must be a whole, positive number of bytes that fits an `Int`.
    public static func size(_ text: String) -> Int? {
        let (number, unit) = split(trimmed(text))
        guard let number else { return nil }
        let bytes: Double?
        switch unit {
        case "", "B": bytes = number.scaled(0)
        case "KiB", "K", "k": bytes = number.scaled(0).map { $0 * 1024 }
        case "MiB", "M": bytes = number.scaled(0).map { $0 * 1024 * 1024 }
        case "GiB", "G": bytes = number.scaled(0).map { $0 * 1024 * 1024 * 1024 }
        case "TiB", "T": bytes = number.scaled(0).map { $0 * 1024 * 1024 * 1024 * 1024 }
        case "KB", "kB": bytes = number.scaled(3)
        case "MB": bytes = number.scaled(6)
        case "GB": bytes = number.scaled(9)
        case "TB": bytes = number.scaled(12)
        default: return nil
        }
        guard let bytes, bytes > 0, bytes == bytes.rounded(), bytes < 9e18 else { return nil }
        return Int(bytes)
    }

    /// Parses a loss fraction: `0.1%` (= 0.001) or a bare fraction `0.001`. Must lie in [0, 1].
    public static func loss(_ text: String) -> Double? {
        let (number, unit) = split(trimmed(text))
        guard let number else { return nil }
        let fraction: Double?
        switch unit {
        case "": fraction = number.scaled(0)
        case "%": fraction = number.scaled(-2)
        default: return nil
        }
        guard let fraction, (0...1).contains(fraction) else { return nil }
        return fraction
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

    /// A plain decimal number as written: `1.5`, `.5`, `2e3`. Kept as text so that scaling by a power
    /// of ten happens in the decimal exponent (`1.5` ms = `1.5e-3`), which `Double(_:)` rounds once,
    /// instead of multiplying by an inexact `1e-3` (100 ns would become 1.0000000000000001e-07).
    private struct Number {
        var mantissa: String
        var exponent: Int

        func scaled(_ decimalExponent: Int) -> Double? {
            guard let value = Double("\(mantissa)e\(exponent + decimalExponent)"), value.isFinite else { return nil }
            return value
        }
    }

    /// Splits `1.5 Gbit` into (1.5, "Gbit"). The number must be plain decimal (optional fraction and
    /// exponent): `Double(_:)` alone would also take `inf`, `nan` and hex floats, which no person means.
    private static func split(_ s: String) -> (Number?, String) {
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
        let mantissa = String(String.UnicodeScalarView(scalars[0..<i]))
        var exponent = 0
        if i < scalars.count, scalars[i] == "e" || scalars[i] == "E" {
            // Only an exponent if digits follow.
            let save = i
            i += 1
            let signStart = i
            if i < scalars.count, scalars[i] == "+" || scalars[i] == "-" { i += 1 }
            if digits() == 0 || i - signStart > 6 {
                i = save
            } else {
                exponent = Int(String(String.UnicodeScalarView(scalars[signStart..<i]))) ?? 0
            }
        }
        var rest = Substring(String(String.UnicodeScalarView(scalars[i...])))
        while let first = rest.first, first == " " { rest.removeFirst() }
        return (Number(mantissa: mantissa, exponent: exponent), String(rest))
    }

    /// `number` times a lower-cased rate prefix: decimal (k, M, G, T) or binary (Ki, Mi, Gi, Ti).
    private static func prefixScaled(_ number: Number, _ prefix: String) -> Double? {
        switch prefix {
        case "": return number.scaled(0)
        case "k": return number.scaled(3)
        case "m": return number.scaled(6)
        case "g": return number.scaled(9)
        case "t": return number.scaled(12)
        case "ki": return number.scaled(0).map { $0 * 1024 }
        case "mi": return number.scaled(0).map { $0 * 1024 * 1024 }
        case "gi": return number.scaled(0).map { $0 * 1024 * 1024 * 1024 }
        case "ti": return number.scaled(0).map { $0 * 1024 * 1024 * 1024 * 1024 }
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
