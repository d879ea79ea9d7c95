import Foundation
import Yams

/// Aggregation resources a switch offers (SHARP's per-switch limits): its slot pool, the payload one
/// slot holds, and how many jobs and trees it may serve at once. A switch without them only forwards.
public struct AggregationResources: Sendable, Codable, Equatable, Hashable {
    /// Slots in the switch's pool (each holds one chunk of one operation while children contribute).
    public var slots: Int
    /// Payload bytes per slot, i.e. the largest chunk the switch reduces in one go.
    public var slotBytes: Int
    /// Concurrent jobs the switch admits.
    public var maxJobs: Int
    /// Trees the switch may be part of at once.
    public var maxTrees: Int

    public init(slots: Int, slotBytes: Int, maxJobs: Int, maxTrees: Int) {
        self.slots = slots
        self.slotBytes = slotBytes
        self.maxJobs = maxJobs
        self.maxTrees = maxTrees
    }

    /// Used when neither the switch nor `defaults.aggregation` says otherwise: a modest switch
    /// (64 slots of 256 KiB = 16 MiB of aggregation SRAM, 4 jobs, 4 trees).
    public static let standard = AggregationResources(slots: 64, slotBytes: 256 * 1024, maxJobs: 4, maxTrees: 4)

    /// Smallest sensible slot: eight elements of the widest dtype. Anything less is a typo
    /// (`slot_bytes: 1` for `1MiB`).
    public static let minSlotBytes = 64
    /// A slot holds one chunk, and no chunk is larger than the wire carries (`WireFormat.defaultMaxBody`).
    public static let maxSlotBytes = WireFormat.defaultMaxBody - ChunkHeader.encodedSize
    /// Slot pool bound: SHARP switches have hundreds to thousands; 65,536 slots is already far past them.
    public static let maxSlots = 65_536
    /// Bound on `maxJobs` and `maxTrees`: the daemon keeps per-job and per-tree state for each.
    public static let maxJobsOrTrees = 4_096
}

/// A fabric: switches, hosts and the links between them, as read from `Configs/*.yaml`.
///
/// The value is plain data (names and numbers, SI base units). Files are read with `load(path:)` or
/// `parse(yaml:source:)`, which accept human units, defaults and generators and validate the result;
/// the synthesized `Codable` form is the wire/JSON form of the already-validated value, not the file
/// schema. Order matters and is kept: host order is rank order by default, and switch order breaks
/// ties in the tree builder.
public struct Topology: Sendable, Codable, Equatable {
    public struct Switch: Sendable, Codable, Equatable {
        public var name: String
        /// Free-form tier (`leaf`, `spine`, `core`, `edge`, `agg`, `wan`, …): generators use it to
        /// decide which switches aggregate, renderers to label.
        public var tier: String
        /// Data-center/site label; the tree builder keeps the root in the site with most ranks.
        public var site: String?
        /// nil: the switch cannot aggregate and only forwards.
        public var aggregation: AggregationResources?

        public init(name: String, tier: String, site: String? = nil, aggregation: AggregationResources? = nil) {
            self.name = name
            self.tier = tier
            self.site = site
            self.aggregation = aggregation
        }
    }

    public struct Host: Sendable, Codable, Equatable {
        public var name: String
        public var site: String?
        /// NIC (rail) names for rail-optimized fabrics; nil when the host has a single uplink.
        public var nics: [String]?

        public init(name: String, site: String? = nil, nics: [String]? = nil) {
            self.name = name
            self.site = site
            self.nics = nics
        }
    }

    /// A bidirectional link, shaped the same way in both directions.
    public struct Link: Sendable, Codable, Equatable {
        public var a: String
        public var b: String
        /// Bits per second.
        public var rate: Double
        /// One-way latency in seconds.
        public var latency: Double
        /// Latency jitter in seconds.
        public var jitter: Double
        /// Packet loss as a fraction in [0, 1): a link that loses everything is refused as a typo.
        public var loss: Double

        public init(a: String, b: String, rate: Double, latency: Double = 0, jitter: Double = 0, loss: Double = 0) {
            self.a = a
            self.b = b
            self.rate = rate
            self.latency = latency
            self.jitter = jitter
            self.loss = loss
        }
    }

    public var name: String
    public var switches: [Switch]
    public var hosts: [Host]
    public var links: [Link]

    // MARK: - Limits (a planning tool's, checked by `validate` and before generators allocate)

    /// Most hosts a topology may have. Trees, plans and renderings hold every host in memory; a million
    /// is ten times the largest fabric planned so far and still fits a workstation.
    public static let maxEndpoints = 1_048_576
    /// Most switches a topology may have.
    public static let maxSwitches = 1_048_576
    /// Most links a topology may have (a million hosts' uplinks plus a fabric three times that size).
    public static let maxLinks = 4_194_304
    /// Link rates outside this (bits/s) are typos: a bare `100` is 100 bit/s, `16Tbit` no NIC has.
    public static let linkRates: ClosedRange<Double> = 1e3...1.6e12
    /// Longest link latency or jitter, in seconds: more than any path on Earth, so `30` meant `30ms`.
    public static let maxLinkDelay = 10.0

    public init(name: String, switches: [Switch], hosts: [Host], links: [Link]) {
        self.name = name
        self.switches = switches
        self.hosts = hosts
        self.links = links
    }

    // MARK: - Loading

    /// Reads and validates a topology file. Errors name `path` and the line.
    public static func load(path: String) throws -> Topology {
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw TopologyError(.io, source: path, "cannot read topology file: \(error.localizedDescription)")
        }
        return try parse(yaml: text, source: path)
    }

    /// Parses and validates topology YAML. `source` labels errors (usually the file path) and, minus
    /// directory and extension, names the topology when the file has no `name:`.
    public static func parse(yaml: String, source: String) throws -> Topology {
        do {
            let file = try TopologyFile.decode(yaml: yaml)
            let topology = try file.resolve(defaultName: defaultName(for: source))
            return topology
        } catch var error as TopologyError {
            error.source = source
            throw error
        }
    }

    /// Checks the invariants the tree builder and launcher rely on (also run by `parse`): unique names,
    /// links between known nodes, every host linked to a switch, sane numbers, at least one aggregating
    /// switch. For values built in code; `line`s are unknown here.
    public func validate(source: String = "<topology>") throws {
        do {
            try TopologyValidator.validate(self, lines: nil)
        } catch var error as TopologyError {
            error.source = source
            throw error
        }
    }

    // MARK: - Queries

    /// The switch called `name`, if any (linear scan; build an index for hot paths).
    public func `switch`(named name: String) -> Switch? { switches.first { $0.name == name } }

    /// The host called `name`, if any (linear scan).
    public func host(named name: String) -> Host? { hosts.first { $0.name == name } }

    /// Host names in rank order: rank r runs on `hostNames[r]` unless a job says otherwise.
    public var hostNames: [String] { hosts.map(\.name) }

    /// Switches that can aggregate, in file order.
    public var aggregatingSwitches: [Switch] { switches.filter { $0.aggregation != nil } }

    private static func defaultName(for source: String) -> String {
        var base = Substring(source)
        if let slash = base.lastIndex(of: "/") { base = base[base.index(after: slash)...] }
        if let dot = base.lastIndex(of: "."), dot != base.startIndex { base = base[..<dot] }
        return base.isEmpty ? "topology" : String(base)
    }
}
