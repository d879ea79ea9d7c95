import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
import Testing
@testable import TributaryCore

/// The heatmap must be a well-formed SVG holding every link of the topology exactly once, with the
/// traffic of non-neighbour pairs spread over the path between them, hotter colours for busier links,
/// grey for idle ones, the tree outlined, and any name escaped.
@Suite struct TopologyHeatmapTests {
    static let configs = ["default.yaml", "fat-tree.yaml", "leaf-spine-large.yaml", "leaf-spine-shared-uplink.yaml",
                          "multi-site.yaml", "rail-optimized.yaml", "two-leaves.yaml"]

    /// A job on every host with an allreduce of `bytes` and a ring pass of a quarter of it, as a summary holds.
    static func job(_ topology: Topology, bytes: Int = 1 << 20) throws -> (loads: [LinkLoad], tree: [[String]]) {
        let tree = try TreeBuilder(topology: topology).build(hosts: topology.hostNames)
        let n = tree.hosts.count
        let all = Array(repeating: bytes, count: n), ring = Array(repeating: bytes / 4, count: n)
        let loads = LinkLoad.merged(tree.linkLoads(algorithm: .inNetwork, bytesSent: all, bytesReceived: all)
            + tree.linkLoads(algorithm: .ring, bytesSent: ring, bytesReceived: ring))
        return (loads, tree.edges)
    }

    /// The link id the drawing gives `a`–`b`: ends in code-point order.
    static func id(_ a: String, _ b: String) -> String { a <= b ? "\(a)--\(b)" : "\(b)--\(a)" }

    // MARK: - Well-formed, every link once

    @Test(arguments: configs)
    func everyLinkAppearsExactlyOnceInAWellFormedDocument(config: String) throws {
        let topology = try loadTopologyConfig(config)
        let (loads, tree) = try Self.job(topology)
        let svg = TopologyHeatmap.render(topology: topology, loads: loads, tree: tree, seconds: 0.5, title: config)
        let root = try SVGElement.parse(svg)
        #expect(root.name == "svg")
        let links = root.all { $0.attributes["data-link"] != nil }
        var count: [String: Int] = [:]
        for link in links { count[link.attributes["data-link"]!, default: 0] += 1 }
        #expect(links.count == topology.links.count)
        for link in topology.links {
            let id = Self.id(link.a, link.b)
            #expect(count[id] == 1, "\(id) drawn \(count[id] ?? 0) times")
        }
        // Every link has a tooltip naming both ends, every node is drawn once.
        for link in links {
            let tooltip = try #require(link.children.first { $0.name == "title" }).text
            let ends = link.attributes["data-link"]!.components(separatedBy: "--")
            #expect(ends.allSatisfy { tooltip.contains($0) })
        }
        let nodes = root.all { $0.attributes["data-node"] != nil }.map { $0.attributes["data-node"]! }
        #expect(nodes.sorted() == (topology.switches.map(\.name) + topology.hostNames).sorted())
        #expect(!svg.lowercased().contains("nan") && !svg.contains("inf"))
    }

    @Test func sameInputSameDrawing() throws {
        let topology = try loadTopologyConfig("fat-tree.yaml")
        let (loads, tree) = try Self.job(topology)
        let first = TopologyHeatmap.render(topology: topology, loads: loads, tree: tree, title: "t")
        #expect(TopologyHeatmap.render(topology: topology, loads: loads, tree: tree, title: "t") == first)
    }

    @Test func noLoadsDrawsTheTopologyGreyWithTheTree() throws {
        let topology = try loadTopologyConfig("default.yaml")
        let tree = try TreeBuilder(topology: topology).build(hosts: Array(topology.hostNames.prefix(3)))
        let root = try SVGElement.parse(TopologyHeatmap.render(topology: topology, loads: [], tree: tree.edges,
                                                               title: "plan"))
        let links = root.all { $0.attributes["data-link"] != nil }
        #expect(links.count == topology.links.count)
        #expect(links.allSatisfy { $0.attributes["data-heat"] == nil && $0.classes.contains("idle") })
        #expect(Set(links.filter { $0.classes.contains("tree") }.map { $0.attributes["data-link"]! })
            == ["h0--leaf0", "h1--leaf0", "h2--leaf0"])
        #expect(root.allText.contains("no link traffic given"))
    }

    // MARK: - Spreading loads over paths

    @Test func loadsBetweenNonNeighboursAreSpreadOverThePath() throws {
        let topology = try loadTopologyConfig("default.yaml")
        // h0 → h4 on the host ring crosses h0–leaf0, leaf0–spine0, spine0–leaf1, leaf1–h4.
        let loads = [LinkLoad(from: "h0", to: "h4", bytesUp: 1000, bytesDown: 7),
                     LinkLoad(from: "h1", to: "h2", bytesUp: 50, bytesDown: 0)]
        let root = try SVGElement.parse(TopologyHeatmap.render(topology: topology, loads: loads, title: "ring"))
        let bytes = Dictionary(uniqueKeysWithValues: root.all { $0.attributes["data-link"] != nil }.map {
            ($0.attributes["data-link"]!, $0.attributes["data-bytes"]!)
        })
        // `data-bytes` is "first → second, second → first" in the id's order.
        #expect(bytes["h0--leaf0"] == "1000 7")
        #expect(bytes["leaf0--spine0"] == "1000 7")
        #expect(bytes["leaf1--spine0"] == "7 1000")
        #expect(bytes["h4--leaf1"] == "7 1000")
        #expect(bytes["h1--leaf0"] == "50 0")
        #expect(bytes["h2--leaf0"] == "0 50")
        #expect(bytes["h3--leaf0"] == "0 0")
        #expect(bytes.count == topology.links.count)
    }

    @Test func treeEdgesAcrossAForwardingSwitchLightTheWholePath() throws {
        var topology = try loadTopologyConfig("default.yaml")
        topology.switches[1].aggregation = nil  // leaf0 only forwards: h0…h3 hang off spine0
        let tree = try TreeBuilder(topology: topology).build(hosts: topology.hostNames)
        #expect(tree.edges.contains(["h0", "spine0"]))
        let n = tree.hosts.count
        let loads = tree.linkLoads(algorithm: .inNetwork, bytesSent: Array(repeating: 100, count: n),
                                   bytesReceived: Array(repeating: 100, count: n))
        let root = try SVGElement.parse(TopologyHeatmap.render(topology: topology, loads: loads, tree: tree.edges,
                                                               title: "pass-through"))
        let links = Dictionary(uniqueKeysWithValues: root.all { $0.attributes["data-link"] != nil }.map {
            ($0.attributes["data-link"]!, $0)
        })
        // Four hosts' loads cross leaf0–spine0, one each on the host links.
        #expect(links["leaf0--spine0"]?.attributes["data-bytes"] == "400 400")
        #expect(links["h0--leaf0"]?.attributes["data-bytes"] == "100 100")
        #expect(links["leaf1--spine0"]?.attributes["data-bytes"] == "100 100")
        #expect(links.values.allSatisfy { $0.classes.contains("tree") })
        let forwarding = try #require(root.first { $0.attributes["data-node"] == "leaf0" })
        #expect(forwarding.classes.contains("forwarding") && forwarding.classes.contains("tree"))
    }

    @Test func routesFollowTheFabricsTieBreak() throws {
        let topology = try loadTopologyConfig("leaf-spine-large.yaml")
        let graph = TopologyGraph(topology)
        // leaf0 to leaf1: two spines, the lower-numbered one (spine0, listed first) carries it.
        let route = try #require(graph.route(from: "leaf0", to: "leaf1"))
        let crossed = route.map { topology.links[$0.link] }.map { Self.id($0.a, $0.b) }
        #expect(crossed == ["leaf0--spine0", "leaf1--spine0"])
        #expect(graph.route(from: "h0", to: "h0") == [])
        #expect(graph.route(from: "h0", to: "nowhere") == nil)
        // Hosts never forward: h0 to h1 goes through their leaf, not through another host.
        let hosts = try #require(graph.route(from: "h0", to: "h1"))
        #expect(hosts.count == 2)
    }

    @Test func loadsNamingUnknownNodesAreCountedNotDrawn() throws {
        let topology = try loadTopologyConfig("default.yaml")
        let loads = [LinkLoad(from: "h0", to: "ghost", bytesUp: 5, bytesDown: 5),
                     LinkLoad(from: "h0", to: "leaf0", bytesUp: 5, bytesDown: 5)]
        let root = try SVGElement.parse(TopologyHeatmap.render(topology: topology, loads: loads,
                                                               tree: [["h9", "leaf0"]], title: "stale"))
        #expect(root.allText.contains("1 link load not drawn"))
        #expect(root.allText.contains("1 tree edge not drawn"))
        #expect(root.all { $0.attributes["data-heat"] != nil }.count == 1)
    }

    // MARK: - Colour

    @Test func busierLinksAreHotterAndIdleLinksGrey() throws {
        let topology = try loadTopologyConfig("default.yaml")
        let loads = [LinkLoad(from: "h0", to: "leaf0", bytesUp: 1_000_000, bytesDown: 0),
                     LinkLoad(from: "h1", to: "leaf0", bytesUp: 10, bytesDown: 250_000),
                     LinkLoad(from: "h2", to: "leaf0", bytesUp: 1, bytesDown: 0)]
        let root = try SVGElement.parse(TopologyHeatmap.render(topology: topology, loads: loads, title: "heat"))
        func link(_ id: String) throws -> SVGElement { try #require(root.first { $0.attributes["data-link"] == id }) }
        func heat(_ id: String) throws -> Double { try #require(Double(try link(id).attributes["data-heat"] ?? "")) }
        func line(_ id: String) throws -> SVGElement? { try link(id).children.last { $0.name == "path" } }
        func stroke(_ id: String) throws -> String? { try line(id)?.attributes["stroke"] }

        #expect(try heat("h0--leaf0") == 1)
        #expect(try heat("h1--leaf0") == 0.25)  // the busier direction counts
        #expect(try heat("h2--leaf0") > 0 && (try heat("h2--leaf0")) < 0.001)
        #expect(try stroke("h0--leaf0") == HeatScale.color(1))
        #expect(try stroke("h1--leaf0") == HeatScale.color(0.25))
        #expect(try stroke("h0--leaf0") != (try stroke("h1--leaf0")))
        for idle in ["h3--leaf0", "h4--leaf1", "leaf0--spine0"] {
            #expect(try link(idle).attributes["data-heat"] == nil)
            #expect(try stroke(idle) == HeatScale.idle)
        }
        // Busier links are drawn wider too, so heat reads without colour.
        func width(_ id: String) throws -> Double { Double(try line(id)?.attributes["stroke-width"] ?? "") ?? 0 }
        #expect(try width("h0--leaf0") > width("h1--leaf0"))
        #expect(try width("h1--leaf0") > width("h3--leaf0"))
    }

    @Test func withADurationTheColourIsUtilisation() throws {
        let topology = try loadTopologyConfig("default.yaml")  // 10 Gbit/s links
        // 0.5 s at 10 Gbit/s is 625 MB: half of it makes a link 50 % busy, twice of it 100 % (capped).
        let loads = [LinkLoad(from: "h0", to: "leaf0", bytesUp: 312_500_000, bytesDown: 0),
                     LinkLoad(from: "h1", to: "leaf0", bytesUp: 0, bytesDown: 1_250_000_000)]
        let svg = TopologyHeatmap.render(topology: topology, loads: loads, seconds: 0.5, title: "util")
        let root = try SVGElement.parse(svg)
        func heat(_ root: SVGElement, _ id: String) -> Double? {
            root.first { $0.attributes["data-link"] == id }?.attributes["data-heat"].flatMap(Double.init)
        }
        #expect(heat(root, "h0--leaf0") == 0.5)
        #expect(heat(root, "h1--leaf0") == 1)
        let tooltip = root.first { $0.attributes["data-link"] == "h1--leaf0" }?.children.first?.text ?? ""
        #expect(tooltip.contains("200% of 10Gbit"))
        #expect(root.allText.contains("utilisation"))
        // Without a duration the same loads are relative to the busiest link.
        let relative = try SVGElement.parse(TopologyHeatmap.render(topology: topology, loads: loads, title: "bytes"))
        #expect(heat(relative, "h0--leaf0") == 0.25)
    }

    @Test func theScaleRunsFromCoolToHot() {
        func channels(_ hex: String) -> (Int, Int, Int) {
            let value = Int(hex.dropFirst(), radix: 16) ?? 0
            return (value >> 16, (value >> 8) & 0xff, value & 0xff)
        }
        let cool = channels(HeatScale.color(0)), hot = channels(HeatScale.color(1))
        #expect(cool.2 > cool.0)  // blue
        #expect(hot.0 > hot.2 && hot.0 > hot.1)  // red
        #expect(HeatScale.color(-1) == HeatScale.color(0) && HeatScale.color(7) == HeatScale.color(1))
        #expect(HeatScale.color(.nan) == HeatScale.color(0))
        let samples = (0...20).map { HeatScale.color(Double($0) / 20) }
        #expect(!samples.contains(HeatScale.idle))
        #expect(Set(samples).count == samples.count)
    }

    // MARK: - Tree

    @Test func treeEdgesAreOutlined() throws {
        let topology = try loadTopologyConfig("leaf-spine-large.yaml")
        let tree = try TreeBuilder(topology: topology).build(hosts: Array(topology.hostNames.prefix(12)))
        let (loads, _) = try Self.job(topology)
        let root = try SVGElement.parse(TopologyHeatmap.render(topology: topology, loads: loads, tree: tree.edges,
                                                               title: "tree"))
        let onTree = root.all { $0.attributes["data-link"] != nil && $0.classes.contains("tree") }
        let expected = Set(tree.edges.map { Self.id($0[0], $0[1]) })
        #expect(Set(onTree.map { $0.attributes["data-link"]! }) == expected)
        for link in onTree {
            let paths = link.children.filter { $0.name == "path" }
            #expect(paths.count == 2)
            #expect(paths.first?.classes.contains("outline") == true)
            let outline = Double(paths.first?.attributes["stroke-width"] ?? "") ?? 0
            let line = Double(paths.last?.attributes["stroke-width"] ?? "") ?? 0
            #expect(outline > line)
        }
        let off = root.all { $0.attributes["data-link"] != nil && !$0.classes.contains("tree") }
        #expect(off.count == topology.links.count - expected.count)
        #expect(off.allSatisfy { $0.children.filter { $0.name == "path" }.count == 1 })
        let treeNodes = Set(root.all { $0.attributes["data-node"] != nil && $0.classes.contains("tree") }
            .map { $0.attributes["data-node"]! })
        #expect(treeNodes == Set(tree.edges.flatMap { $0 }))
    }

    // MARK: - Names and scale

    @Test func oddNamesAreEscaped() throws {
        let odd = ["sw<1>&\"2\"", "h'1'", "h&amp;", "h]]>", "h\u{7}bell", "ü—名"]
        let topology = Topology(name: "odd <names> & \"quotes\"", switches: [
            .init(name: odd[0], tier: "le<af>", aggregation: .standard),
        ], hosts: odd.dropFirst().map { .init(name: $0, site: "s&<>") }, links: odd.dropFirst().map {
            .init(a: $0, b: odd[0], rate: 1e9)
        })
        let loads = [LinkLoad(from: odd[1], to: odd[0], bytesUp: 9, bytesDown: 9),
                     LinkLoad(from: odd[2], to: odd[3], bytesUp: 4, bytesDown: 0)]
        let title = "job <\"x\"> & 'y' \u{1}"
        let svg = TopologyHeatmap.render(topology: topology, loads: loads, tree: [[odd[1], odd[0]]], seconds: 1,
                                         title: title)
        let root = try SVGElement.parse(svg)
        let nodes = Set(root.all { $0.attributes["data-node"] != nil }.map { $0.attributes["data-node"]! })
        let readable = odd.map { $0.replacingOccurrences(of: "\u{7}", with: "\u{FFFD}") }
        #expect(nodes == Set(readable))
        let links = Set(root.all { $0.attributes["data-link"] != nil }.map { $0.attributes["data-link"]! })
        #expect(links == Set(readable.dropFirst().map { Self.id($0, readable[0]) }))
        #expect(root.children.first { $0.name == "title" }?.text == "job <\"x\"> & 'y' \u{FFFD}")
        #expect(root.allText.contains("ü—名"))
    }

    @Test func hundredsOfNodesStayReadableAndThousandsDoNotBreak() throws {
        let options = Topology.GeneratorOptions(aggregation: ["leaf": .standard, "spine": .standard],
                                                hostLink: .init(rate: 1e10), fabricLink: .init(rate: 4e10))
        let medium = try Topology.leafSpine(spines: 8, leaves: 32, hostsPerLeaf: 16, options: options)
        let (loads, tree) = try Self.job(medium)
        let svg = TopologyHeatmap.render(topology: medium, loads: loads, tree: tree, seconds: 2, title: "512 hosts")
        let root = try SVGElement.parse(svg)
        #expect(root.all { $0.attributes["data-link"] != nil }.count == medium.links.count)
        // 512 host names still drawn (turned downwards), switches labelled.
        let labels = root.all { $0.name == "text" && $0.attributes["font-size"] != nil }.map(\.text)
        #expect(labels.contains("h511") && labels.contains("leaf31") && labels.contains("spine7"))
        let width = try #require(Double(root.attributes["width"] ?? ""))
        #expect(width >= 512 * 10 && width < 512 * 20)

        let large = try Topology.leafSpine(spines: 4, leaves: 64, hostsPerLeaf: 64, options: options)
        let big = try SVGElement.parse(TopologyHeatmap.render(topology: large, loads: [], title: "4096 hosts"))
        #expect(big.all { $0.attributes["data-link"] != nil }.count == large.links.count)
        let names = Set(large.hostNames + large.switches.map(\.name))
        #expect(big.all { $0.name == "text" && names.contains($0.text) }.isEmpty)
        #expect(big.allText.contains("too small to draw"))
    }

    @Test func layoutPutsHostsAtTheBottomAndSwitchesByHops() throws {
        let topology = try loadTopologyConfig("fat-tree.yaml")
        let graph = TopologyGraph(topology)
        let layout = TopologyLayout(graph: graph)
        #expect(layout.rows.count == 4)
        func tiers(_ row: Int) -> Set<String> {
            Set(layout.rows[row].map { graph.isSwitch($0) ? topology.switches[$0].tier : "host" })
        }
        #expect(tiers(0) == ["host"] && tiers(1) == ["edge"] && tiers(2) == ["agg"] && tiers(3) == ["core"])
        #expect(layout.rows[0].map { graph.names[$0] } == topology.hostNames)
        // A leaf sits over its hosts: edge switches in pod order, as their hosts are.
        #expect(layout.rows[1].map { graph.names[$0] }.prefix(3) == ["edge-p0-0", "edge-p0-1", "edge-p0-2"])
    }

    @Test func headerWrapsToTheDrawing() {
        let lines = TopologyHeatmap.wrap(["aaaa bbbb", "cccc", String(repeating: "x ", count: 30)], characters: 20)
        #expect(lines.allSatisfy { $0.count <= 20 })
        #expect(lines.first?.hasPrefix("aaaa bbbb; cccc; x") == true)
        #expect(lines.count == 4)
    }
}

/// A parsed XML element (SAX through `XMLParser`, which reports malformed documents as errors).
final class SVGElement {
    let name: String
    let attributes: [String: String]
    var children: [SVGElement] = []
    var text = ""

    init(name: String, attributes: [String: String]) {
        self.name = name
        self.attributes = attributes
    }

    var classes: [String] { (attributes["class"] ?? "").split(separator: " ").map(String.init) }

    /// This element and everything below it, depth first.
    func all(where include: (SVGElement) -> Bool) -> [SVGElement] {
        var found: [SVGElement] = []
        func visit(_ element: SVGElement) {
            if include(element) { found.append(element) }
            element.children.forEach(visit)
        }
        visit(self)
        return found
    }

    func first(where include: (SVGElement) -> Bool) -> SVGElement? { all(where: include).first }

    /// All character data below, joined by newlines.
    var allText: String { all { !$0.text.isEmpty }.map(\.text).joined(separator: "\n") }

    static func parse(_ xml: String) throws -> SVGElement {
        let parser = XMLParser(data: Data(xml.utf8))
        let builder = Builder()
        parser.delegate = builder
        guard parser.parse(), let root = builder.root else {
            throw ParseError(description: "\(parser.parserError.map { "\($0)" } ?? "no root element") at line "
                             + "\(parser.lineNumber), column \(parser.columnNumber)")
        }
        return root
    }

    struct ParseError: Error, CustomStringConvertible { var description: String }

    private final class Builder: NSObject, XMLParserDelegate {
        var root: SVGElement?
        var stack: [SVGElement] = []

        func parser(_ parser: XMLParser, didStartElement elementName: String, namespaceURI: String?,
                    qualifiedName: String?, attributes: [String: String] = [:]) {
            let element = SVGElement(name: elementName, attributes: attributes)
            if let parent = stack.last { parent.children.append(element) } else { root = element }
            stack.append(element)
        }

        func parser(_ parser: XMLParser, didEndElement elementName: String, namespaceURI: String?,
                    qualifiedName: String?) {
            stack.removeLast()
        }

        func parser(_ parser: XMLParser, foundCharacters string: String) {
            stack.last?.text += string
        }
    }
}
