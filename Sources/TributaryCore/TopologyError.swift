/// Why a topology file was refused, and where.
///
/// Topologies are written by hand, so every error names the file and, whenever the YAML node is known,
/// the line: `Configs/x.yaml:12: \`10Gbitz\` is not a rate (…)`. `kind` lets tests and callers react to
/// the class of error without matching message text.
public struct TopologyError: Error, CustomStringConvertible, Equatable, Sendable {
    public enum Kind: String, Sendable, Equatable {
        /// The file could not be read.
        case io
        /// The text is not valid YAML.
        case syntax
        /// A value is of the wrong shape (a list where a value was expected, a missing required key).
        case schema
        /// A key the schema does not know (usually a typo; silently ignoring it would hide the mistake).
        case unknownKey
        /// A rate, time, size or loss that does not parse.
        case badUnit
        /// A number out of range or otherwise unusable (zero slots, odd fat-tree k, …).
        case invalidValue
        /// Two switches/hosts share a name, or a link is listed twice.
        case duplicate
        /// A link names a node that does not exist.
        case unknownNode
        /// A host has no link to any switch (or a link joins two hosts, or a switch has no link).
        case notConnected
        /// No switch in the fabric can aggregate.
        case noAggregatingSwitch
    }

    public var kind: Kind
    /// The file path (or the `source` label given to `Topology.parse`).
    public var source: String
    /// 1-based line in `source`, when known.
    public var line: Int?
    public var message: String

    public init(_ kind: Kind, source: String = "", line: Int? = nil, _ message: String) {
        self.kind = kind
        self.source = source
        self.line = line
        self.message = message
    }

    /// `file:line: message`, the form editors and terminals make clickable.
    public var description: String {
        if let line { return "\(source):\(line): \(message)" }
        return "\(source): \(message)"
    }
}
