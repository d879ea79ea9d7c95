import Yams

/// The topology file schema as written (YAML via `YAMLDecoder`), before defaults and generators are
/// applied. Kept apart from `Topology` because the file allows things the model does not: human units,
/// omitted fields filled from `defaults:`, `generate:` blocks, and a source line on every element so
/// that later validation (duplicate names, unknown link ends) can still point at the line.
///
/// ```yaml
/// name: example
/// defaults:
///   link: { rate: 10Gbit, latency: 2us, jitter: 0us, loss: 0 }
///   aggregation: { slots: 64, slot_bytes: 256KiB, max_jobs: 4, max_trees: 4 }
/// generate:                     # one block or a list of blocks
///   kind: leaf-spine            # leaf-spine | fat-tree | dragonfly
///   spines: 1
///   leaves: 2
///   hosts_per_leaf: 4
/// switches: [ { name: wan0, tier: wan, aggregation: none } ]
/// hosts: [ h100, { name: h101, site: dc2 } ]
/// links: [ { a: wan0, b: spine0, rate: 1Gbit, latency: 10ms } ]
/// ```
struct TopologyFile: Decodable {
    var name: String?
    var defaults: Defaults?
    var generators: [Generator]
    var switches: [SwitchEntry]
    var hosts: [HostEntry]
    var links: [LinkEntry]

    init(from decoder: Decoder) throws {
        let fields = try TopologyFields(decoder, "the topology file",
                                        allowed: ["name", "defaults", "generate", "switches", "hosts", "links"])
        name = try fields.string("name")
        defaults = try fields.nested("defaults") { try Defaults(from: $0) }
        // `generate:` takes one block or a list of them (e.g. one leaf-spine per site).
        if try fields.isList("generate") {
            generators = try fields.list("generate") { try Generator(from: $0) } ?? []
        } else {
            generators = try fields.nested("generate") { try [Generator(from: $0)] } ?? []
        }
        switches = try fields.list("switches") { try SwitchEntry(from: $0) } ?? []
        hosts = try fields.list("hosts") { try HostEntry(from: $0) } ?? []
        links = try fields.list("links") { try LinkEntry(from: $0) } ?? []
    }

    /// Parses YAML text into the file schema, turning Yams' syntax and decoding errors into
    /// `TopologyError`s with a line (source is filled in by the caller). Aliases that stand for more
    /// nodes than Yams can afford to build are refused first (`YAMLAliasBudget`).
    static func decode(yaml: String) throws -> TopologyFile {
        try YAMLAliasBudget.check(yaml)
        let root: Node?
        do {
            root = try Yams.compose(yaml: yaml)
        } catch let error as YamlError {
            throw syntaxError(error)
        }
        guard let root else {
            throw TopologyError(.schema, line: 1,
                                "the file is empty; expected `switches:`/`hosts:`/`links:` or `generate:`")
        }
        do {
            return try YAMLDecoder().decode(TopologyFile.self, from: root)
        } catch let error as TopologyError {
            throw error
        } catch let error as DecodingError {
            throw decodingError(error, root: root)
        }
    }

    // MARK: - Entries

    /// Link parameters that may each be omitted (then `defaults.link`, then 0 — except rate, which
    /// has no safe default and must come from somewhere).
    struct LinkShape: Decodable {
        var rate: Double?
        var latency: Double?
        var jitter: Double?
        var loss: Double?

        static let keys: Set<String> = ["rate", "latency", "jitter", "loss"]

        init() {}

        init(from decoder: Decoder) throws {
            let fields = try TopologyFields(decoder, "a link profile", allowed: Self.keys)
            try self.init(fields)
        }

        init(_ fields: TopologyFields) throws {
            rate = try fields.rate("rate")
            latency = try fields.duration("latency")
            jitter = try fields.duration("jitter")
            loss = try fields.loss("loss")
            // Checked here too (not only by the validator) so an error points at the field's own line,
            // also in `defaults.link` or a generator's link profile.
            try fields.check("rate", rate, TopologyValidator.linkProblem)
            try fields.check("latency", latency, TopologyValidator.linkProblem)
            try fields.check("jitter", jitter, TopologyValidator.linkProblem)
            try fields.check("loss", loss, TopologyValidator.linkProblem)
        }

        /// Fields set here win; the rest come from `fallback`.
        func over(_ fallback: LinkShape?) -> LinkShape {
            var out = self
            out.rate = rate ?? fallback?.rate
            out.latency = latency ?? fallback?.latency
            out.jitter = jitter ?? fallback?.jitter
            out.loss = loss ?? fallback?.loss
            return out
        }

        func profile(what: @autoclosure () -> String, line: Int?) throws -> Topology.LinkProfile {
            guard let rate else {
                throw TopologyError(.schema, line: line,
                                    "no `rate` for \(what()): set it there or in `defaults.link`")
            }
            return Topology.LinkProfile(rate: rate, latency: latency ?? 0, jitter: jitter ?? 0, loss: loss ?? 0)
        }
    }

    /// Aggregation resources that may each be omitted (then `defaults.aggregation`, then
    /// `AggregationResources.standard`).
    struct AggregationShape: Decodable {
        var slots: Int?
        var slotBytes: Int?
        var maxJobs: Int?
        var maxTrees: Int?

        init() {}

        init(from decoder: Decoder) throws {
            let fields = try TopologyFields(decoder, "aggregation resources",
                                            allowed: ["slots", "slot_bytes", "max_jobs", "max_trees"])
            slots = try fields.int("slots", min: 1)
            slotBytes = try fields.size("slot_bytes")
            maxJobs = try fields.int("max_jobs", min: 1)
            maxTrees = try fields.int("max_trees", min: 1)
            try fields.check("slots", slots, TopologyValidator.aggregationProblem)
            try fields.check("slot_bytes", slotBytes, TopologyValidator.aggregationProblem)
            try fields.check("max_jobs", maxJobs, TopologyValidator.aggregationProblem)
            try fields.check("max_trees", maxTrees, TopologyValidator.aggregationProblem)
        }

        func over(_ fallback: AggregationResources) -> AggregationResources {
            AggregationResources(slots: slots ?? fallback.slots, slotBytes: slotBytes ?? fallback.slotBytes,
                                 maxJobs: maxJobs ?? fallback.maxJobs, maxTrees: maxTrees ?? fallback.maxTrees)
        }
    }

    /// A switch's `aggregation:` value: `none`/`false` (forward only), `true` (the defaults), or a
    /// mapping of resources overriding the defaults field by field.
    enum AggregationSetting: Decodable {
        case off
        case defaults
        case custom(AggregationShape)

        init(from decoder: Decoder) throws {
            if (try? decoder.container(keyedBy: TopologyKey.self)) != nil {
                self = .custom(try AggregationShape(from: decoder))
                return
            }
            let text = (try? decoder.singleValueContainer().decode(String.self)) ?? ""
            switch text.lowercased() {
            case "none", "off", "false", "no": self = .off
            case "true", "on", "yes", "default", "defaults": self = .defaults
            default:
                throw TopologyError(.schema, line: decoder.mark?.line,
                                    "`aggregation` must be `none`, `true` or a mapping of resources, not `\(text)`")
            }
        }

        func resolve(_ defaults: AggregationResources?) -> AggregationResources? {
            switch self {
            case .off: return nil
            case .defaults: return defaults ?? .standard
            case .custom(let shape): return shape.over(defaults ?? .standard)
            }
        }
    }

    struct Defaults: Decodable {
        var link: LinkShape?
        var aggregation: AggregationShape?

        init(from decoder: Decoder) throws {
            let fields = try TopologyFields(decoder, "`defaults`", allowed: ["link", "aggregation"])
            link = try fields.nested("link") { try LinkShape(from: $0) }
            aggregation = try fields.nested("aggregation") { try AggregationShape(from: $0) }
        }
    }

    struct SwitchEntry: Decodable {
        var name: String
        var tier: String?
        var site: String?
        var aggregation: AggregationSetting?
        var line: Int?

        init(from decoder: Decoder) throws {
            let fields = try TopologyFields(decoder, "a switch", allowed: ["name", "tier", "site", "aggregation"])
            line = fields.line
            name = try fields.requiredString("name")
            tier = try fields.string("tier")
            site = try fields.string("site")
            aggregation = try fields.nested("aggregation") { try AggregationSetting(from: $0) }
        }
    }

    struct HostEntry: Decodable {
        var name: String
        var site: String?
        var nics: [String]?
        var line: Int?

        init(from decoder: Decoder) throws {
            // A bare name (`- h0`) is the common case.
            if (try? decoder.container(keyedBy: TopologyKey.self)) == nil,
               let name = try? decoder.singleValueContainer().decode(String.self) {
                self.name = name
                self.line = decoder.mark?.line
                return
            }
            let fields = try TopologyFields(decoder, "a host", allowed: ["name", "site", "nics"])
            line = fields.line
            name = try fields.requiredString("name")
            site = try fields.string("site")
            nics = try fields.stringList("nics")
        }
    }

    struct LinkEntry: Decodable {
        var a: String
        var b: String
        var shape: LinkShape
        var line: Int?

        init(from decoder: Decoder) throws {
            let fields = try TopologyFields(decoder, "a link", allowed: LinkShape.keys.union(["a", "b"]))
            line = fields.line
            a = try fields.requiredString("a")
            b = try fields.requiredString("b")
            shape = try LinkShape(fields)
        }
    }

    /// A `generate:` block. Which keys apply depends on `kind`; the others are refused.
    struct Generator: Decodable {
        enum Kind: String, CaseIterable {
            case leafSpine = "leaf-spine"
            case fatTree = "fat-tree"
            case dragonfly

            /// Whole-number parameters (all >= 1).
            var countKeys: [String] {
                switch self {
                case .leafSpine: return ["spines", "leaves", "hosts_per_leaf"]
                case .fatTree: return ["k", "hosts_per_edge"]
                case .dragonfly: return ["groups", "routers_per_group", "hosts_per_router", "global_links_per_router"]
                }
            }

            /// Keys that only this kind takes.
            var keys: Set<String> { Set(countKeys).union(self == .dragonfly ? ["global_link"] : []) }

            var tiers: [String] {
                switch self {
                case .leafSpine: return ["spine", "leaf"]
                case .fatTree: return ["core", "agg", "edge"]
                case .dragonfly: return ["router"]
                }
            }
        }

        var kind: Kind
        var line: Int?
        var prefix: String
        var site: String?
        var aggregate: [String]?
        var aggregation: [(tier: String, setting: AggregationSetting)]?
        var hostLink: LinkShape?
        var fabricLink: LinkShape?
        var globalLink: LinkShape?
        var counts: [String: Int] = [:]

        init(from decoder: Decoder) throws {
            let common: Set<String> = ["kind", "prefix", "site", "aggregate", "aggregation", "host_link", "fabric_link"]
            let all = Kind.allCases.reduce(common) { $0.union($1.keys) }
            let fields = try TopologyFields(decoder, "`generate`", allowed: all)
            line = fields.line
            let kindText = try fields.requiredString("kind")
            guard let kind = Kind(rawValue: kindText) else {
                throw TopologyError(.invalidValue, line: fields.lineOf("kind") ?? line,
                                    "unknown generator kind `\(kindText)`; expected one of: "
                                        + Kind.allCases.map(\.rawValue).joined(separator: ", "))
            }
            self.kind = kind
            for key in fields.keys where !common.contains(key) && !kind.keys.contains(key) {
                throw TopologyError(.unknownKey, line: fields.lineOf(key) ?? line,
                                    "`\(key)` does not apply to a \(kind.rawValue) generator; it takes: "
                                        + kind.keys.sorted().joined(separator: ", "))
            }
            prefix = try fields.string("prefix") ?? ""
            site = try fields.string("site")
            aggregate = try fields.stringList("aggregate")
            if let list = aggregate {
                for tier in list where !kind.tiers.contains(tier) {
                    throw TopologyError(.invalidValue, line: fields.lineOf("aggregate") ?? line,
                                        "`\(tier)` is not a tier of a \(kind.rawValue) fabric; its tiers are: "
                                            + kind.tiers.joined(separator: ", "))
                }
            }
            aggregation = try fields.nested("aggregation") { sub in
                let tiers = try TopologyFields(sub, "`generate.aggregation` (tier: resources)",
                                               allowed: Set(kind.tiers))
                return try tiers.keys.map { tier in
                    (tier, try tiers.nested(tier) { try AggregationSetting(from: $0) } ?? .defaults)
                }
            }
            hostLink = try fields.nested("host_link") { try LinkShape(from: $0) }
            fabricLink = try fields.nested("fabric_link") { try LinkShape(from: $0) }
            globalLink = try fields.nested("global_link") { try LinkShape(from: $0) }
            for key in kind.countKeys {
                if let value = try fields.int(key, min: 1) { counts[key] = value }
            }
        }

        /// Resources for a switch of `tier`: tiers listed in `aggregate:` or `aggregation:` aggregate
        /// (with their own resources if given); with neither, every tier gets `defaults.aggregation`
        /// (and none aggregate when that is not set either).
        func resources(tier: String, defaults: AggregationResources?) -> AggregationResources? {
            if aggregate == nil && aggregation == nil { return defaults }
            if let setting = aggregation?.first(where: { $0.tier == tier })?.setting {
                return setting.resolve(defaults)
            }
            return aggregate?.contains(tier) == true ? (defaults ?? .standard) : nil
        }
    }

    // MARK: - Resolution

    /// Applies defaults, runs generators, appends explicit entries (after generated ones), and
    /// validates the result with every element's line at hand.
    func resolve(defaultName: String) throws -> Topology {
        let defaultLink = defaults?.link
        let defaultAggregation = defaults?.aggregation.map { $0.over(.standard) }
        var topology = Topology(name: name ?? defaultName, switches: [], hosts: [], links: [])
        var lines = TopologyValidator.Lines()

        for generator in generators {
            let generated = try generate(generator, defaultLink: defaultLink, defaultAggregation: defaultAggregation)
            topology.switches += generated.switches
            topology.hosts += generated.hosts
            topology.links += generated.links
            lines.switches += Array(repeating: generator.line, count: generated.switches.count)
            lines.hosts += Array(repeating: generator.line, count: generated.hosts.count)
            lines.links += Array(repeating: generator.line, count: generated.links.count)
            // Each generator is bounded alone; so must the sum be, before the next one allocates.
            try TopologyValidator.checkSize(hosts: topology.hosts.count, switches: topology.switches.count,
                                            links: topology.links.count, "with its generators, the topology",
                                            line: generator.line)
        }
        // Explicit lists past a limit are refused before they are built, at the entry that passes it.
        func passing<T>(_ entries: [T], _ limit: Int, after count: Int, _ line: (T) -> Int?) -> Int? {
            entries.count > limit - count ? line(entries[max(0, limit - count)]) : nil
        }
        try TopologyValidator.checkSize(
            hosts: topology.hosts.count + hosts.count, switches: topology.switches.count + switches.count,
            links: topology.links.count + links.count, "the topology",
            line: passing(hosts, Topology.maxEndpoints, after: topology.hosts.count, \.line)
                ?? passing(switches, Topology.maxSwitches, after: topology.switches.count, \.line)
                ?? passing(links, Topology.maxLinks, after: topology.links.count, \.line))
        for entry in switches {
            let aggregation = entry.aggregation.map { $0.resolve(defaultAggregation) } ?? defaultAggregation
            topology.switches.append(Topology.Switch(name: entry.name, tier: entry.tier ?? "switch", site: entry.site,
                                                     aggregation: aggregation))
            lines.switches.append(entry.line)
        }
        for entry in hosts {
            topology.hosts.append(Topology.Host(name: entry.name, site: entry.site, nics: entry.nics))
            lines.hosts.append(entry.line)
        }
        for entry in links {
            let profile = try entry.shape.over(defaultLink)
                .profile(what: "link \(entry.a)–\(entry.b)", line: entry.line)
            topology.links.append(profile.link(entry.a, entry.b))
            lines.links.append(entry.line)
        }
        try TopologyValidator.validate(topology, lines: lines)
        return topology
    }

    private func generate(_ generator: Generator, defaultLink: LinkShape?,
                          defaultAggregation: AggregationResources?) throws -> Topology {
        let what = "\(generator.kind.rawValue) generator"
        let hostLink = try (generator.hostLink ?? LinkShape()).over(defaultLink)
            .profile(what: "the host links of the \(what)", line: generator.line)
        let fabricLink = try (generator.fabricLink ?? LinkShape()).over(defaultLink)
            .profile(what: "the fabric links of the \(what)", line: generator.line)
        var aggregation: [String: AggregationResources] = [:]
        for tier in generator.kind.tiers {
            aggregation[tier] = generator.resources(tier: tier, defaults: defaultAggregation)
        }
        let options = Topology.GeneratorOptions(prefix: generator.prefix, site: generator.site,
                                                aggregation: aggregation, hostLink: hostLink, fabricLink: fabricLink)
        func count(_ key: String) throws -> Int {
            guard let value = generator.counts[key] else {
                throw TopologyError(.schema, line: generator.line, "the \(what) needs `\(key)`")
            }
            return value
        }
        do {
            switch generator.kind {
            case .leafSpine:
                return try Topology.leafSpine(spines: count("spines"), leaves: count("leaves"),
                                              hostsPerLeaf: count("hosts_per_leaf"), options: options)
            case .fatTree:
                return try Topology.fatTree(k: count("k"), hostsPerEdge: generator.counts["hosts_per_edge"],
                                            options: options)
            case .dragonfly:
                let globalLink = try (generator.globalLink ?? LinkShape()).over(defaultLink)
                    .profile(what: "the global links of the \(what)", line: generator.line)
                return try Topology.dragonfly(groups: count("groups"), routersPerGroup: count("routers_per_group"),
                                              hostsPerRouter: count("hosts_per_router"),
                                              globalLinksPerRouter: count("global_links_per_router"),
                                              globalLink: globalLink, options: options)
            }
        } catch var error as TopologyError {
            error.line = error.line ?? generator.line
            throw error
        }
    }

    // MARK: - Yams errors

    private static func syntaxError(_ error: YamlError) -> TopologyError {
        switch error {
        case let .scanner(context, problem, mark, _), let .parser(context, problem, mark, _),
             let .composer(context, problem, mark, _):
            let detail = context.map { " (\($0.text))" } ?? ""
            return TopologyError(.syntax, line: mark.line, "invalid YAML: \(problem)\(detail)")
        case let .duplicatedKeysInMapping(duplicates, context):
            let keys = duplicates.map { "`\($0)`" }.joined(separator: ", ")
            return TopologyError(.duplicate, line: context.mark.line, "key \(keys) appears twice in one mapping")
        default:
            return TopologyError(.syntax, "invalid YAML: \(error)")
        }
    }

    /// A `DecodingError` carries a coding path but no position; walk the composed node tree along the
    /// path to recover the line of the deepest node that exists.
    private static func decodingError(_ error: DecodingError, root: Node) -> TopologyError {
        let path: [CodingKey]
        let message: String
        switch error {
        case let .typeMismatch(type, context):
            path = context.codingPath
            message = "expected \(type) at `\(dotted(path))`"
        case let .valueNotFound(type, context):
            path = context.codingPath
            message = "missing \(type) at `\(dotted(path))`"
        case let .keyNotFound(key, context):
            path = context.codingPath
            message = "missing key `\(key.stringValue)` in `\(dotted(path))`"
        case let .dataCorrupted(context):
            path = context.codingPath
            message = "\(context.debugDescription) at `\(dotted(path))`"
        @unknown default:
            path = []
            message = "\(error)"
        }
        var node = root
        var line = root.mark?.line
        for key in path {
            let next: Node?
            if let index = key.intValue, case .sequence(let sequence) = node, sequence.indices.contains(index) {
                next = sequence[index]
            } else {
                next = node[key.stringValue]
            }
            guard let next else { break }
            node = next
            line = next.mark?.line ?? line
        }
        return TopologyError(.schema, line: line, message)
    }

    private static func dotted(_ path: [CodingKey]) -> String {
        guard !path.isEmpty else { return "(top level)" }
        return path.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }.joined(separator: ".")
    }
}
