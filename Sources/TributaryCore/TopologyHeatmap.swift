import Foundation

/// A drawing of a topology (switches, hosts, links) with each link coloured by the traffic it carried
/// and a job's tree outlined: `tributary topo --svg`. It should answer "where did the bytes go, and
/// which link was the bottleneck" on its own, in a browser or a report, without the summary table.
///
/// Hosts sit on the bottom row and switches above them by hops from the nearest host
/// (`TopologyLayout`). Every link is one `<g class="link" data-link="x--y">` (ends in string
/// order, `leaf0--spine0`, so a tool can find a link without knowing the layout) with a `<title>`
/// tooltip giving the bytes each way, the rate and, when a duration is known, the utilisation. Loads and tree edges
/// between non-neighbours are spread onto every link of the path between them (`TopologyGraph`).
///
/// Colour: with a duration and link rates, the utilisation of the link's busier direction (payload
/// bits / (rate × seconds), 100 % and above the hottest); otherwise its busier direction's bytes
/// relative to the busiest link. Links that carried nothing are grey and thin. Large fabrics shrink
/// spacing and labels; a label that would be too small is left out (the tooltip still names the node).
public enum TopologyHeatmap {
    /// Renders the drawing. `tree` holds (child, parent) pairs such as `AggregationTree.edges`;
    /// `seconds` is the time the loads took (e.g. the sum of a job's operation times).
    public static func render(topology: Topology, loads: [LinkLoad], tree: [[String]] = [], seconds: Double? = nil,
                              title: String) -> String {
        let graph = TopologyGraph(topology)
        let traffic = LinkTraffic(graph: graph, loads: loads)
        let layout = TopologyLayout(graph: graph)
        let measure = Measure(topology: topology, traffic: traffic, seconds: seconds)

        var treeLinks = Set<Int>()
        var treeNodes = Set<Int>()
        var unplacedTreeEdges = 0
        for edge in tree where edge.count == 2 {
            guard let route = graph.route(from: edge[0], to: edge[1]) else {
                unplacedTreeEdges += 1
                continue
            }
            for step in route {
                treeLinks.insert(step.link)
                if let ends = graph.ends[step.link] { treeNodes.formUnion([ends.a, ends.b]) }
            }
        }

        let geometry = Geometry(graph: graph, layout: layout, arcsOnTopRow: topRowHasArcs(graph, layout))
        var notes: [String] = []
        if !traffic.unplaced.isEmpty {
            let first = traffic.unplaced[0]
            notes.append("\(traffic.unplaced.count) link load\(traffic.unplaced.count == 1 ? "" : "s") not drawn: "
                         + "no path in this topology between their ends (first: \(first.from) → \(first.to))")
        }
        if unplacedTreeEdges > 0 {
            notes.append("\(unplacedTreeEdges) tree edge\(unplacedTreeEdges == 1 ? "" : "s") not drawn: "
                         + "their ends are not joined in this topology")
        }
        if geometry.hiddenLabels > 0 {
            notes.append("\(geometry.hiddenLabels) node label\(geometry.hiddenLabels == 1 ? "" : "s") too small "
                         + "to draw: hover over a node for its name")
        }
        // Header lines wrapped to the drawing's width (12 px text, 11 px notes).
        let summary = wrap(summaryParts(topology: topology, traffic: traffic, measure: measure, tree: tree),
                           characters: Int((geometry.width - 40) / (Geometry.characterWidth * 12)))
        let noteLines = wrap(notes, characters: Int((geometry.width - 40) / (Geometry.characterWidth * 11)))
        let headerHeight = 42 + 16 * Double(summary.count + noteLines.count)
        let top = headerHeight + geometry.topPadding
        let width = geometry.width
        let hostY = top + geometry.y(row: 0)
        let legendY = hostY + geometry.hostRadius + geometry.hostLabelBand + 30
        let height = legendY + 64

        var svg = """
            <?xml version="1.0" encoding="UTF-8"?>
            <svg xmlns="http://www.w3.org/2000/svg" width="\(Int(width))" height="\(Int(height))" \
            viewBox="0 0 \(Int(width)) \(Int(height))" font-family="Helvetica, Arial, sans-serif" font-size="12">
            <title>\(XMLText.escape(title))</title>
            <defs><linearGradient id="heat-scale" x1="0" x2="1" y1="0" y2="0">
            """
        for (i, color) in HeatScale.stopColors.enumerated() {
            let offset = Double(i) / Double(HeatScale.stops.count - 1)
            svg += "<stop offset=\"\(format(offset * 100))%\" stop-color=\"\(color)\"/>"
        }
        svg += "</linearGradient></defs>\n"
        svg += "<rect x=\"0\" y=\"0\" width=\"\(Int(width))\" height=\"\(Int(height))\" fill=\"#ffffff\"/>\n"

        // Header: title, what the colour means and the busiest link, notes.
        svg += "<text class=\"title\" x=\"20\" y=\"26\" font-size=\"16\" font-weight=\"bold\" fill=\"#222222\">"
            + "\(XMLText.escape(title))</text>\n"
        for (i, line) in summary.enumerated() {
            svg += "<text class=\"subtitle\" x=\"20\" y=\"\(format(46 + 16 * Double(i)))\" fill=\"#444444\">"
                + "\(XMLText.escape(line))</text>\n"
        }
        for (i, note) in noteLines.enumerated() {
            svg += "<text class=\"note\" x=\"20\" y=\"\(format(46 + 16 * Double(summary.count + i)))\" "
                + "font-size=\"11\" fill=\"#8a5a00\">\(XMLText.escape(note))</text>\n"
        }

        // Links: idle first, then by heat, the tree's on top so its outline is never covered.
        let order = topology.links.indices.sorted { x, y in
            let keyX = (treeLinks.contains(x) ? 1 : 0, measure.heat(x) ?? -1, x)
            let keyY = (treeLinks.contains(y) ? 1 : 0, measure.heat(y) ?? -1, y)
            return keyX < keyY
        }
        svg += "<g class=\"links\" fill=\"none\" stroke-linecap=\"round\">\n"
        for index in order {
            guard let ends = graph.ends[index] else { continue }
            svg += link(index, topology: topology, traffic: traffic, measure: measure,
                        onTree: treeLinks.contains(index), path: geometry.path(from: ends.a, to: ends.b, top: top),
                        geometry: geometry)
        }
        svg += "</g>\n"

        // Nodes, over the links' ends.
        svg += "<g class=\"nodes\">\n"
        for (row, members) in layout.rows.enumerated() {
            for v in members {
                svg += node(v, row: row, topology: topology, graph: graph, geometry: geometry, top: top,
                            onTree: treeNodes.contains(v))
            }
        }
        svg += "</g>\n"
        svg += legend(y: legendY, measure: measure)
        svg += "</svg>\n"
        return svg
    }

    /// One link: a group carrying its id, bytes and heat, its tooltip, the tree's outline, the line.
    private static func link(_ index: Int, topology: Topology, traffic: LinkTraffic, measure: Measure, onTree: Bool,
                             path: String, geometry: Geometry) -> String {
        let link = topology.links[index]
        let heat = measure.heat(index)
        let ordered = link.a <= link.b
        let (first, second) = ordered ? (link.a, link.b) : (link.b, link.a)
        let bytes = ordered ? (traffic.aToB[index], traffic.bToA[index]) : (traffic.bToA[index], traffic.aToB[index])
        let width = geometry.linkWidth(heat: heat, onTree: onTree)
        var classes = "link"
        if onTree { classes += " tree" }
        if heat == nil { classes += " idle" }
        var out = "<g class=\"\(classes)\" data-link=\"\(XMLText.escape(first))--\(XMLText.escape(second))\" "
            + "data-bytes=\"\(bytes.0) \(bytes.1)\""
            + (heat.map { " data-heat=\"\(String(format: "%.4g", $0))\"" } ?? "") + ">"
        out += "<title>" + XMLText.escape(tooltip(link: link, first: first, second: second, bytes: bytes,
                                                  measure: measure, onTree: onTree)) + "</title>"
        if onTree {
            out += "<path class=\"outline\" d=\"\(path)\" stroke=\"#222222\" "
                + "stroke-width=\"\(format(width + 2.4 * geometry.density))\"/>"
        }
        return out + "<path d=\"\(path)\" stroke=\"\(heat.map(HeatScale.color) ?? HeatScale.idle)\" "
            + "stroke-width=\"\(format(width))\"/></g>\n"
    }

    // MARK: - What the colour measures

    /// How a link's traffic becomes a heat in [0, 1].
    struct Measure {
        enum Kind {
            /// Utilisation of the busier direction over `seconds`.
            case utilisation(seconds: Double)
            /// Bytes of the busier direction relative to the busiest link's.
            case bytes(busiest: Int)
        }

        let kind: Kind
        /// Heat per link, nil for an idle one.
        private let heats: [Double?]
        /// Link rates in bits/s.
        private let rates: [Double]

        init(topology: Topology, traffic: LinkTraffic, seconds: Double?) {
            rates = topology.links.map(\.rate)
            let linkCount = topology.links.count
            let haveRates = rates.allSatisfy { $0.isFinite && $0 > 0 }
            if let seconds, seconds.isFinite, seconds > 0, haveRates {
                kind = .utilisation(seconds: seconds)
            } else {
                kind = .bytes(busiest: (0..<linkCount).map(traffic.busier).max() ?? 0)
            }
            var heats: [Double?] = []
            heats.reserveCapacity(linkCount)
            for link in 0..<linkCount {
                let busier = traffic.busier(link)
                guard busier > 0 else {
                    heats.append(nil)
                    continue
                }
                switch kind {
                case .utilisation(let seconds):
                    heats.append(min(Double(busier) * 8 / (rates[link] * seconds), 1))
                case .bytes(let busiest):
                    heats.append(Double(busier) / Double(busiest))
                }
            }
            self.heats = heats
        }

        /// nil for a link that carried nothing.
        func heat(_ link: Int) -> Double? { heats[link] }

        /// `bytes` over the link's rate and the duration, when measuring utilisation.
        func utilisation(_ bytes: Int, link: Int) -> Double? {
            guard case .utilisation(let seconds) = kind else { return nil }
            return Double(bytes) * 8 / (rates[link] * seconds)
        }
    }

    // MARK: - Text

    /// The header's sentences: the fabric's size, the busiest link, what the colour measures.
    private static func summaryParts(topology: Topology, traffic: LinkTraffic, measure: Measure,
                                     tree: [[String]]) -> [String] {
        let aggregating = topology.switches.filter { $0.aggregation != nil }.count
        var parts = ["\(topology.switches.count) switches (\(aggregating) aggregating), \(topology.hosts.count) hosts, "
                     + "\(topology.links.count) links"]
        let busiest = topology.links.indices.max { traffic.busier($0) < traffic.busier($1) }
        if let busiest, traffic.busier(busiest) > 0 {
            let link = topology.links[busiest]
            let bytes = traffic.busier(busiest)
            var text = "busiest \(link.a)–\(link.b): \(bytesLabel(bytes)) one way"
            if let share = measure.utilisation(bytes, link: busiest) { text += " (\(percentLabel(share)) of the link)" }
            parts.append(text)
            switch measure.kind {
            case .utilisation(let seconds):
                parts.append("colour: utilisation of each link's busier direction over \(secondsLabel(seconds))")
            case .bytes:
                parts.append("colour: bytes of each link's busier direction, relative to the busiest")
            }
        } else {
            parts.append("no link traffic given: links grey" + (tree.isEmpty ? "" : ", the job's tree outlined"))
        }
        return parts
    }

    /// `parts` joined with "; " into lines of at most `characters` (a part longer than that alone is
    /// broken at spaces, or cut if it has none).
    static func wrap(_ parts: [String], characters: Int) -> [String] {
        let limit = max(characters, 20)
        var lines: [String] = []
        var line = ""
        func add(_ piece: String, separator: String) {
            if line.isEmpty {
                line = piece
            } else if line.count + separator.count + piece.count <= limit {
                line += separator + piece
            } else {
                lines.append(line)
                line = piece
            }
        }
        for part in parts {
            guard part.count > limit else {
                add(part, separator: "; ")
                continue
            }
            for (i, word) in part.split(separator: " ").enumerated() {
                add(truncated(String(word), to: limit), separator: i == 0 ? "; " : " ")
            }
        }
        if !line.isEmpty { lines.append(line) }
        return lines
    }

    private static func tooltip(link: Topology.Link, first: String, second: String, bytes: (Int, Int),
                                measure: Measure, onTree: Bool) -> String {
        guard bytes.0 > 0 || bytes.1 > 0 else {
            return "\(first) — \(second), \(TopologyUnits.formatRate(link.rate))\nno traffic"
                + (onTree ? "\non the job's tree" : "")
        }
        func direction(_ from: String, _ to: String, _ count: Int) -> String {
            var text = "\(from) → \(to): \(bytesLabel(count))"
            if case .utilisation(let seconds) = measure.kind {
                let share = percentLabel(Double(count) * 8 / (link.rate * seconds))
                text += " (\(share) of \(TopologyUnits.formatRate(link.rate)))"
            }
            return text
        }
        return "\(first) — \(second), \(TopologyUnits.formatRate(link.rate))\n"
            + direction(first, second, bytes.0) + "\n" + direction(second, first, bytes.1)
            + (onTree ? "\non the job's tree" : "")
    }

    private static func node(_ v: Int, row: Int, topology: Topology, graph: TopologyGraph, geometry: Geometry,
                             top: Double, onTree: Bool) -> String {
        let name = graph.names[v]
        let x = format(geometry.x(v)), y = top + geometry.y(row: row)
        let placement = geometry.label(v)
        let label = XMLText.escape(truncated(name, to: Geometry.labelLimit))
        let weight = onTree ? " font-weight=\"bold\"" : ""
        if graph.isSwitch(v) {
            let sw = topology.switches[v]
            let box = geometry.box(v)
            var tip = "\(name): \(sw.tier) switch"
            if let site = sw.site { tip += " in \(site)" }
            if let resources = sw.aggregation {
                tip += ", aggregates (\(resources.slots) slots × \(TopologyUnits.formatSize(resources.slotBytes)), "
                    + "\(resources.maxJobs) jobs, \(resources.maxTrees) trees)"
            } else {
                tip += ", forwards only"
            }
            if onTree { tip += "; on the job's tree" }
            let kind = sw.aggregation != nil ? "aggregating" : "forwarding"
            var out = "<g class=\"node switch \(kind)\(onTree ? " tree" : "")\" data-node=\"\(XMLText.escape(name))\">"
                + "<title>\(XMLText.escape(tip))</title>"
            out += switchShape(x: geometry.x(v), y: y, width: box.width, height: box.height,
                               aggregating: sw.aggregation != nil, onTree: onTree)
            if let placement {
                out += "<text x=\"\(x)\" y=\"\(format(y))\" dy=\"0.35em\" text-anchor=\"middle\" "
                    + "font-size=\"\(format(placement.font))\"\(weight) fill=\"#111111\">\(label)</text>"
            }
            return out + "</g>\n"
        }
        let host = topology.hosts[v - graph.switchCount]
        var tip = "\(name): host"
        if let site = host.site { tip += " in \(site)" }
        if let nics = host.nics { tip += ", NICs \(nics.joined(separator: ", "))" }
        if onTree { tip += "; on the job's tree" }
        let r = geometry.hostRadius
        var out = "<g class=\"node host\(onTree ? " tree" : "")\" data-node=\"\(XMLText.escape(name))\">"
            + "<title>\(XMLText.escape(tip))</title>"
            + "<circle cx=\"\(x)\" cy=\"\(format(y))\" r=\"\(format(r))\" fill=\"\(onTree ? "#e3e3e3" : "#ffffff")\" "
            + "stroke=\"\(onTree ? "#1b1b1b" : "#777777")\" stroke-width=\"\(onTree ? "1.8" : "1.2")\"/>"
        if let placement {
            if placement.rotated {
                let ly = y + r + 4
                out += "<text x=\"\(x)\" y=\"\(format(ly))\" dy=\"0.35em\" "
                    + "font-size=\"\(format(placement.font))\"\(weight) fill=\"#222222\" "
                    + "transform=\"rotate(90 \(x) \(format(ly)))\">\(label)</text>"
            } else {
                out += "<text x=\"\(x)\" y=\"\(format(y + r + 4 + placement.font))\" text-anchor=\"middle\" "
                    + "font-size=\"\(format(placement.font))\"\(weight) fill=\"#222222\">\(label)</text>"
            }
        }
        return out + "</g>\n"
    }

    /// Aggregating switches have a double border (as in the DOT view), forwarding ones a dashed one.
    private static func switchShape(x: Double, y: Double, width: Double, height: Double, aggregating: Bool,
                                    onTree: Bool) -> String {
        let stroke = onTree ? "#1b1b1b" : "#555555"
        var out = "<rect x=\"\(format(x - width / 2))\" y=\"\(format(y - height / 2))\" width=\"\(format(width))\" "
            + "height=\"\(format(height))\" rx=\"3\" fill=\"\(aggregating ? "#eef3fa" : "#ffffff")\" "
            + "stroke=\"\(stroke)\" "
            + "stroke-width=\"\(onTree ? "1.8" : "1.2")\"\(aggregating ? "" : " stroke-dasharray=\"3 2\"")/>"
        if aggregating, width > 8, height > 8 {
            out += "<rect x=\"\(format(x - width / 2 + 2.5))\" y=\"\(format(y - height / 2 + 2.5))\" "
                + "width=\"\(format(width - 5))\" height=\"\(format(height - 5))\" rx=\"2\" fill=\"none\" "
                + "stroke=\"\(stroke)\" stroke-width=\"0.8\"/>"
        }
        return out
    }

    private static func legend(y: Double, measure: Measure) -> String {
        let left = 20.0
        var out = "<g class=\"legend\" font-size=\"11\" fill=\"#333333\">\n"
        out += "<text x=\"\(format(left))\" y=\"\(format(y + 9))\">link colour</text>\n"
        let barX = left + 78, barWidth = 220.0
        out += "<rect x=\"\(format(barX))\" y=\"\(format(y))\" width=\"\(format(barWidth))\" height=\"10\" "
            + "fill=\"url(#heat-scale)\" stroke=\"#999999\" stroke-width=\"0.5\"/>\n"
        let ticks: [String]
        switch measure.kind {
        case .utilisation: ticks = ["0%", "50%", "≥ 100%"]
        case .bytes(let busiest): ticks = busiest > 0 ? ["0", bytesLabel(busiest / 2), bytesLabel(busiest)]
            : ["0", "", "busiest"]
        }
        for (i, tick) in ticks.enumerated() where !tick.isEmpty {
            let anchor = ["start", "middle", "end"][i]
            out += "<text x=\"\(format(barX + barWidth * Double(i) / 2))\" y=\"\(format(y + 23))\" "
                + "text-anchor=\"\(anchor)\">\(XMLText.escape(tick))</text>\n"
        }
        var x = barX + barWidth + 24
        out += "<line x1=\"\(format(x))\" y1=\"\(format(y + 5))\" x2=\"\(format(x + 26))\" y2=\"\(format(y + 5))\" "
            + "stroke=\"\(HeatScale.idle)\" stroke-width=\"1.5\"/>"
            + "<text x=\"\(format(x + 32))\" y=\"\(format(y + 9))\">no traffic</text>\n"
        x += 110
        out += "<line x1=\"\(format(x))\" y1=\"\(format(y + 5))\" x2=\"\(format(x + 26))\" y2=\"\(format(y + 5))\" "
            + "stroke=\"#1b1b1b\" stroke-width=\"6\"/><line x1=\"\(format(x))\" y1=\"\(format(y + 5))\" "
            + "x2=\"\(format(x + 26))\" y2=\"\(format(y + 5))\" stroke=\"\(HeatScale.color(0.6))\" stroke-width=\"3\"/>"
            + "<text x=\"\(format(x + 32))\" y=\"\(format(y + 9))\">the job's tree (outlined, bold names)</text>\n"
        let row = y + 40
        out += switchShape(x: left + 16, y: row, width: 30, height: 16, aggregating: true, onTree: false)
        out += "<text x=\"\(format(left + 38))\" y=\"\(format(row + 4))\">aggregating switch</text>\n"
        out += switchShape(x: left + 176, y: row, width: 30, height: 16, aggregating: false, onTree: false)
        out += "<text x=\"\(format(left + 198))\" y=\"\(format(row + 4))\">forwarding switch</text>\n"
        out += "<circle cx=\"\(format(left + 326))\" cy=\"\(format(row))\" r=\"6\" fill=\"#ffffff\" stroke=\"#777777\" "
            + "stroke-width=\"1.2\"/><text x=\"\(format(left + 338))\" y=\"\(format(row + 4))\">host</text>\n"
        out += "<text x=\"\(format(left + 390))\" y=\"\(format(row + 4))\" fill=\"#666666\">"
            + "hover over a link or node for its numbers</text>\n"
        return out + "</g>\n"
    }

    // MARK: - Formatting

    /// A byte count for people: `812 B`, `3.42 KiB`, `12.5 MiB`, `256 GiB`.
    static func bytesLabel(_ bytes: Int) -> String {
        guard bytes >= 1024 else { return "\(bytes) B" }
        let units = ["KiB", "MiB", "GiB", "TiB", "PiB", "EiB"]
        var value = Double(bytes) / 1024, unit = 0
        while value >= 1024, unit < units.count - 1 {
            value /= 1024
            unit += 1
        }
        let digits = value < 10 ? "%.2f" : value < 100 ? "%.1f" : "%.0f"
        return String(format: digits, value) + " " + units[unit]
    }

    /// A fraction as a percentage with sensible digits: `0.5%`, `34%`, `<0.01%`.
    static func percentLabel(_ fraction: Double) -> String {
        let percent = fraction * 100
        if percent > 0, percent < 0.01 { return "<0.01%" }
        return String(format: percent >= 10 ? "%.0f%%" : percent >= 1 ? "%.1f%%" : "%.2f%%", percent)
    }

    static func secondsLabel(_ seconds: Double) -> String {
        seconds >= 1 ? String(format: "%.3g s", seconds) : String(format: "%.3g ms", seconds * 1e3)
    }

    static func format(_ value: Double) -> String { String(format: "%.1f", value) }

    static func truncated(_ text: String, to limit: Int) -> String {
        guard text.count > limit, limit > 1 else { return text }
        return String(text.prefix(limit - 1)) + "…"
    }

    private static func topRowHasArcs(_ graph: TopologyGraph, _ layout: TopologyLayout) -> Bool {
        let top = layout.rows.count - 1
        return graph.ends.contains { ends in
            guard let ends else { return false }
            return layout.level[ends.a] == top && layout.level[ends.b] == top
        }
    }
}
