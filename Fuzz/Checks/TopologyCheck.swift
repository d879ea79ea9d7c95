import Foundation
import TributaryCore

/// What must hold for any topology file a user can hand the CLI, checked by the `fuzz-topology` target
/// and by the regression test (docs/FUZZING.md). The text goes through `Topology.parse`, what
/// `Topology.load` (and so every command's `loadTopology`) runs after reading the file: YAML, schema,
/// units, generators, limits and validation. It must refuse with a `TopologyError` (the one-line
/// `file:line: message` the CLI prints), never trap and never allocate past the planning limits — a
/// few bytes declaring a huge generated fabric are refused from its parameters. A topology it accepts
/// is within the limits and passes `validate` again, as the commands that build one in code rely on.
public enum TopologyCheck {
    /// The violations found (empty when every invariant holds).
    public static func run(_ bytes: [UInt8]) -> [String] {
        // `Topology.load` reads the file as UTF-8 and refuses it otherwise, before parsing.
        guard let text = String(data: Data(bytes), encoding: .utf8) else { return [] }
        let topology: Topology
        do {
            topology = try Topology.parse(yaml: text, source: "fuzz.yaml")
        } catch let error as TopologyError {
            return error.message.isEmpty ? ["a TopologyError without a message: \(error)"] : []
        } catch {
            return ["refused with \(type(of: error)), not a TopologyError: \(error)"]
        }
        var problems: [String] = []
        let counts = [("hosts", topology.hosts.count, Topology.maxEndpoints),
                      ("switches", topology.switches.count, Topology.maxSwitches),
                      ("links", topology.links.count, Topology.maxLinks)]
        for (noun, count, limit) in counts where count > limit {
            problems.append("accepted with \(count) \(noun), past the limit of \(limit)")
        }
        do {
            try topology.validate()
        } catch {
            problems.append("parsed, but `validate` refuses it: \(error)")
        }
        return problems
    }
}
