import Yams

/// A coding key that accepts any string, so a mapping can list the keys it was actually given.
struct TopologyKey: CodingKey {
    var stringValue: String
    var intValue: Int?

    init(_ string: String) {
        stringValue = string
        intValue = nil
    }

    init?(stringValue: String) { self.init(stringValue) }

    init?(intValue: Int) {
        stringValue = String(intValue)
        self.intValue = intValue
    }
}

/// One YAML mapping of the topology file, read key by key.
///
/// Synthesized `Decodable` would silently ignore a misspelt key and report a bad value only as a
/// coding path; reading through this wrapper instead refuses unknown keys and turns every bad value
/// into a `TopologyError` carrying the line of the offending YAML node (from Yams' `Decoder.mark`).
struct TopologyFields {
    let container: KeyedDecodingContainer<TopologyKey>
    /// Line of the mapping itself (its first key).
    let line: Int?
    /// What the mapping is, for messages ("a link", "`defaults`").
    let what: String

    init(_ decoder: Decoder, _ what: String, allowed: Set<String>) throws {
        self.what = what
        line = decoder.mark?.line
        do {
            container = try decoder.container(keyedBy: TopologyKey.self)
        } catch {
            throw TopologyError(.schema, line: decoder.mark?.line, "\(what) must be a mapping of `key: value` pairs")
        }
        for key in container.allKeys where !allowed.contains(key.stringValue) {
            throw TopologyError(.unknownKey, line: lineOf(key.stringValue) ?? line,
                                "unknown key `\(key.stringValue)` in \(what); expected one of: "
                                    + allowed.sorted().joined(separator: ", "))
        }
    }

    /// Keys present, in file order.
    var keys: [String] { container.allKeys.map(\.stringValue) }

    /// Line of the value stored under `key`.
    func lineOf(_ key: String) -> Int? {
        (try? container.superDecoder(forKey: TopologyKey(key)))?.mark?.line
    }

    /// True when `key` is present with a non-null value.
    func has(_ key: String) throws -> Bool {
        let k = TopologyKey(key)
        guard container.contains(k) else { return false }
        return !(try container.decodeNil(forKey: k))
    }

    /// True when `key` holds a YAML sequence.
    func isList(_ key: String) throws -> Bool {
        guard try has(key) else { return false }
        return (try? container.nestedUnkeyedContainer(forKey: TopologyKey(key))) != nil
    }

    func string(_ key: String) throws -> String? {
        guard try has(key) else { return nil }
        do {
            return try container.decode(String.self, forKey: TopologyKey(key))
        } catch {
            throw TopologyError(.schema, line: lineOf(key) ?? line,
                                "`\(key)` in \(what) must be a single value, not a list or mapping")
        }
    }

    func requiredString(_ key: String) throws -> String {
        guard let value = try string(key) else {
            throw TopologyError(.schema, line: line, "\(what) needs `\(key)`")
        }
        guard !value.isEmpty else {
            throw TopologyError(.invalidValue, line: lineOf(key) ?? line, "`\(key)` in \(what) must not be empty")
        }
        return value
    }

    func int(_ key: String, min: Int) throws -> Int? {
        guard let text = try string(key) else { return nil }
        guard let value = Int(text), value >= min else {
            throw TopologyError(.invalidValue, line: lineOf(key) ?? line,
                                "`\(key)` must be a whole number >= \(min), not `\(text)`")
        }
        return value
    }

    func rate(_ key: String) throws -> Double? {
        try unit(key, TopologyUnits.rate, "a rate", "100Gbit, 25Gbps, 800Mbit, 1.5Gbit")
    }

    func duration(_ key: String) throws -> Double? {
        try unit(key, TopologyUnits.duration, "a time", "2us, 1.5ms, 30ms, 0")
    }

    func size(_ key: String) throws -> Int? {
        try unit(key, TopologyUnits.size, "a size", "256KiB, 16MiB, 4096")
    }

    func loss(_ key: String) throws -> Double? {
        try unit(key, TopologyUnits.loss, "a loss fraction", "0.1%, 0.001, 0")
    }

    /// Throws what `problem` finds wrong with `value` (read from `key`), at the line of `key`.
    func check<T>(_ key: String, _ value: T?, _ problem: (String, T) -> String?) throws {
        guard let value, let message = problem(key, value) else { return }
        throw TopologyError(.invalidValue, line: lineOf(key) ?? line, message)
    }

    /// A list of strings; a single value counts as a one-element list.
    func stringList(_ key: String) throws -> [String]? {
        guard try has(key) else { return nil }
        if try isList(key) {
            return try list(key) { element in
                guard let value = try? element.singleValueContainer().decode(String.self) else {
                    throw TopologyError(.schema, line: element.mark?.line ?? line,
                                        "`\(key)` in \(what) must be a list of names")
                }
                return value
            }
        }
        return try string(key).map { [$0] }
    }

    /// The value under `key` read by `body` from its own decoder (nil when absent or null).
    func nested<T>(_ key: String, _ body: (Decoder) throws -> T) throws -> T? {
        guard try has(key) else { return nil }
        return try body(container.superDecoder(forKey: TopologyKey(key)))
    }

    /// Each element of the list under `key` read by `element` (nil when absent or null).
    func list<T>(_ key: String, _ element: (Decoder) throws -> T) throws -> [T]? {
        guard try has(key) else { return nil }
        var items: UnkeyedDecodingContainer
        do {
            items = try container.nestedUnkeyedContainer(forKey: TopologyKey(key))
        } catch {
            throw TopologyError(.schema, line: lineOf(key) ?? line, "`\(key)` must be a list (`- item` lines)")
        }
        var out: [T] = []
        out.reserveCapacity(items.count ?? 0)
        while !items.isAtEnd {
            out.append(try element(items.superDecoder()))
        }
        return out
    }

    private func unit<T>(_ key: String, _ parse: (String) -> T?, _ kind: String, _ examples: String) throws -> T? {
        guard let text = try string(key) else { return nil }
        guard let value = parse(text) else {
            throw TopologyError(.badUnit, line: lineOf(key) ?? line,
                                "`\(text)` is not \(kind) (`\(key)` in \(what); write e.g. \(examples))")
        }
        return value
    }
}
