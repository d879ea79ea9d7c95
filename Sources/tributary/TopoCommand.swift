import ArgumentParser
import Foundation
import TributaryCore

struct TopoCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "topo",
        abstract: "Show the aggregation tree a topology yields, as text or Graphviz DOT.")

    @Argument(help: "Topology file (YAML).")
    var config: String

    @Option(help: "Ranks in the job (default: one per host); rank r runs on host r.")
    var ranks: Int?

    @Flag(help: "Print Graphviz DOT instead of text.")
    var dot = false

    func run() throws {
        let topology = try loadTopology(config, command: "topo")
        let n = ranks ?? topology.hosts.count
        guard n > 0, n <= topology.hosts.count else {
            throw ValidationError("--ranks must be in 1...\(topology.hosts.count) for \(config)")
        }
        let clock = ContinuousClock()
        var tree: AggregationTree?
        let elapsed = try clock.measure {
            tree = try TreeBuilder(topology: topology).build(hosts: Array(topology.hostNames.prefix(n)))
        }
        if dot {
            print(TreeRenderer.dot(tree!, topology: topology))
        } else {
            print("topology \(topology.name): \(topology.switches.count) switches, \(topology.hosts.count) hosts, "
                  + "\(topology.links.count) links; tree built in \(elapsed)")
            print(TreeRenderer.text(tree!, topology: topology))
        }
    }
}
