extension TopologyHeatmap {
    /// Where things go in the heatmap, sized to the fabric: eight hosts get roomy boxes and level
    /// labels, five hundred get narrow slots, rotated host names and thinner lines, and labels that
    /// would be too small to read are left out rather than drawn on top of each other.
    ///
    /// Text is never measured (there is no font here): a character is taken as 0.6 of the font size,
    /// about right for Helvetica's lower case and digits.
    struct Geometry {
        /// Longest label drawn; longer names are cut with an ellipsis (tooltips keep them whole).
        static let labelLimit = 24
        /// Above this many nodes no label is drawn: the file would be mostly text no one can read.
        static let maxLabelledNodes = 4_000
        static let characterWidth = 0.6

        struct Label {
            var font: Double
            /// Host names too wide for their slot run downwards from the host.
            var rotated: Bool
        }

        let width: Double
        let rowGap: Double
        /// 1 for roomy drawings, down to 0.45 for dense ones: scales line widths.
        let density: Double
        let hostRadius: Double
        /// Room below the hosts for their labels.
        let hostLabelBand: Double
        /// Room above the top row (for its box and any arcs between its switches).
        let topPadding: Double
        /// Nodes whose label was left out.
        let hiddenLabels: Int

        private let left: Double
        private let plotWidth: Double
        private let rowCount: Int
        private let level: [Int]
        /// Each node's x, by number.
        private let xs: [Double]
        private let labels: [Label?]
        /// Switch box sizes by number (hosts: zero).
        private let boxes: [(width: Double, height: Double)]

        init(graph: TopologyGraph, layout: TopologyLayout, arcsOnTopRow arcsOnTop: Bool) {
            let rows = layout.rows
            rowCount = rows.count
            level = layout.level
            let widest = Double(max(1, rows.map(\.count).max() ?? 1))
            let slot = min(120, max(12, 1500 / widest))
            plotWidth = max(widest * slot, 720)
            left = 40
            width = plotWidth + 2 * left
            // Rows further apart as the drawing widens, so a wide fabric is not a thin strip and its
            // links do not lie almost flat.
            rowGap = min(max(plotWidth / Double(6 * max(rows.count - 1, 1)), rows.count > 5 ? 100 : 130), 360)

            var xs = [Double](repeating: 0, count: graph.nodeCount)
            for row in rows {
                for (i, v) in row.enumerated() {
                    xs[v] = left + (Double(i) + 0.5) * plotWidth / Double(row.count)
                }
            }
            self.xs = xs

            let labelled = graph.nodeCount <= Self.maxLabelledNodes
            var labels = [Label?](repeating: nil, count: graph.nodeCount)
            var boxes = [(width: Double, height: Double)](repeating: (0, 0), count: graph.nodeCount)
            var hidden = 0
            func characters(_ v: Int) -> Double { Double(min(graph.names[v].count, Self.labelLimit)) }

            // Hosts: names below them, turned downwards when the widest does not fit its slot.
            let hosts = rows.first ?? []
            let hostSlot = plotWidth / Double(max(hosts.count, 1))
            density = min(max(hostSlot / 28, 0.45), 1)
            hostRadius = min(max(hostSlot * 0.3, 2), 7)
            let hostChars = hosts.map(characters).max() ?? 0
            var hostLabel: Label?
            if labelled, !hosts.isEmpty {
                if hostChars * Self.characterWidth * 10 <= hostSlot * 0.95 {
                    hostLabel = Label(font: 10, rotated: false)
                } else if hostSlot * 0.8 >= 5 {
                    hostLabel = Label(font: min(10, hostSlot * 0.8), rotated: true)
                }
            }
            for v in hosts { labels[v] = hostLabel }
            if hostLabel == nil { hidden += hosts.count }
            switch hostLabel {
            case .some(let label) where label.rotated: hostLabelBand = hostChars * Self.characterWidth * label.font + 8
            case .some(let label): hostLabelBand = label.font + 8
            case .none: hostLabelBand = 4
            }

            // Switches: names inside their boxes, one font size per row (the largest that fits them all).
            var topHalfHeight = 0.0
            for (r, row) in rows.enumerated() where r > 0 && !row.isEmpty {
                let rowSlot = plotWidth / Double(row.count)
                let chars = max(row.map(characters).max() ?? 1, 1)
                let font = min(11, (rowSlot * 0.92 - 14) / (Self.characterWidth * chars))
                let label = labelled && font >= 6 ? Label(font: font, rotated: false) : nil
                let height = label.map { $0.font + 10 } ?? min(max(rowSlot * 0.6, 6), 16)
                for v in row {
                    labels[v] = label
                    let boxWidth = label.map { characters(v) * Self.characterWidth * $0.font + 14 }
                        ?? min(rowSlot * 0.7, 20)
                    boxes[v] = (max(boxWidth, min(height * 1.6, rowSlot * 0.9)), height)
                }
                if label == nil { hidden += row.count }
                if r == rows.count - 1 { topHalfHeight = height / 2 }
            }
            if rows.count == 1 { topHalfHeight = hostRadius }
            self.labels = labels
            self.boxes = boxes
            hiddenLabels = hidden
            topPadding = 16 + topHalfHeight + (arcsOnTop ? rowGap * 0.4 : 0)
        }

        func x(_ node: Int) -> Double { xs[node] }

        /// A row's y below the drawing's top edge: the top row at 0, hosts lowest.
        func y(row: Int) -> Double { Double(rowCount - 1 - row) * rowGap }

        func label(_ node: Int) -> Label? { labels[node] }

        func box(_ node: Int) -> (width: Double, height: Double) { boxes[node] }

        /// SVG path data for a link: straight between rows, an arc bowing upwards within one (dragonfly
        /// global links, a WAN link between two sites' spines), so it does not run through the row's nodes.
        func path(from a: Int, to b: Int, top: Double) -> String {
            let x1 = xs[a], x2 = xs[b]
            let y1 = top + y(row: level[a]), y2 = top + y(row: level[b])
            let start = "M\(format(x1)) \(format(y1))"
            guard level[a] == level[b] else { return start + " L\(format(x2)) \(format(y2))" }
            let bulge = min(rowGap * 0.4, 16 + abs(x2 - x1) * 0.1)
            return start + " Q\(format((x1 + x2) / 2)) \(format(y1 - 2 * bulge)) \(format(x2)) \(format(y2))"
        }

        /// Wider for hotter links, so heat reads in greyscale too; the tree's links at least medium.
        func linkWidth(heat: Double?, onTree: Bool) -> Double {
            guard let heat else { return (onTree ? 2.4 : 1.3) * density }
            return (2 + 3 * heat) * density
        }
    }
}
