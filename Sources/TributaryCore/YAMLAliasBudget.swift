// libyaml as Yams bundles it: Yams composes a document whole, with no hook between parsing and building
// nodes, so the events are read here first (Yams imports the module `internal`ly; SwiftPM still gives its
// clients the module map, and a Yams that renamed it would fail this build loudly, not silently).
import CYaml

/// Refuses YAML whose aliases stand for too many nodes, before Yams composes it (found by fuzzing,
/// docs/FUZZING.md). An alias costs Yams the whole node it names, again at every use, and an anchored
/// node may itself hold aliases, so a few hundred bytes can stand for a billion nodes: Yams hashes
/// every mapping key to find duplicates (`? *ten-levels-of-ten-aliases` hangs `compose`), and its decoder
/// flattens `<<` merges by copying (`<<: [*m39, *m39]`, each level doubling, exhausts memory). Written
/// nodes cost what their text costs; only what aliases add is counted, against a budget no real
/// topology file comes near (`defaults:` and generators are the ways to repeat things).
enum YAMLAliasBudget {
    /// Most nodes the aliases of one document may stand for, in all.
    static let maxAliasedNodes = 1_000_000

    /// Throws when the aliases of `yaml` stand for more than `limit` nodes. Text libyaml cannot parse
    /// is left to Yams, whose error names the problem.
    static func check(_ yaml: String, limit: Int = maxAliasedNodes) throws(TopologyError) {
        var parser = yaml_parser_t()
        guard yaml_parser_initialize(&parser) == 1 else { return }
        defer { yaml_parser_delete(&parser) }
        var text = Array(yaml.utf8)
        let error: TopologyError? = text.withUnsafeMutableBufferPointer { buffer in
            yaml_parser_set_input_string(&parser, buffer.baseAddress, buffer.count)
            return countAliases(&parser, limit: limit)
        }
        if let error { throw error }
    }

    /// Walks the event stream keeping, for every anchor, the size of the node it names (sizes saturate
    /// far above any limit, so a size cannot overflow) and, for every open collection, the size so far.
    private static func countAliases(_ parser: inout yaml_parser_t, limit: Int) -> TopologyError? {
        let cap = 1 << 40
        var sizes: [String: Int] = [:]
        var open: [(size: Int, anchor: String?)] = []
        var aliased = 0
        func add(_ size: Int, anchor: String?) {
            if let anchor { sizes[anchor] = size }
            if !open.isEmpty { open[open.count - 1].size = min(cap, open[open.count - 1].size + size) }
        }
        func name(_ anchor: UnsafeMutablePointer<yaml_char_t>?) -> String? {
            anchor.map { String(cString: UnsafeRawPointer($0).assumingMemoryBound(to: CChar.self)) }
        }
        while true {
            var event = yaml_event_t()
            guard yaml_parser_parse(&parser, &event) == 1 else { return nil }
            defer { yaml_event_delete(&event) }
            switch event.type {
            case YAML_STREAM_END_EVENT:
                return nil
            case YAML_DOCUMENT_START_EVENT:
                sizes = [:]
            case YAML_SCALAR_EVENT:
                add(1, anchor: name(event.data.scalar.anchor))
            case YAML_SEQUENCE_START_EVENT:
                open.append((1, name(event.data.sequence_start.anchor)))
            case YAML_MAPPING_START_EVENT:
                open.append((1, name(event.data.mapping_start.anchor)))
            case YAML_SEQUENCE_END_EVENT, YAML_MAPPING_END_EVENT:
                if let node = open.popLast() { add(node.size, anchor: node.anchor) }
            case YAML_ALIAS_EVENT:
                // An unknown anchor is Yams' error to report; a node still open cannot be named yet.
                let size = name(event.data.alias.anchor).flatMap { sizes[$0] } ?? 1
                aliased = min(cap, aliased + size)
                if aliased > limit {
                    return TopologyError(
                        .invalidValue, line: Int(event.start_mark.line) + 1,
                        "with this alias, the file's aliases stand for over \(TopologyValidator.grouped(limit)) "
                            + "nodes (each use repeats the whole anchored node, and anchored nodes may hold aliases "
                            + "in turn); repeat settings with `defaults:` or a `generate:` block instead")
                }
                add(size, anchor: nil)
            default:
                break
            }
        }
    }
}
