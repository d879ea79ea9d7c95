import Foundation
import TributaryCore

/// A dependency-free SVG writer for "bandwidth vs message size" plots.
///
/// A bench run should leave a picture that can be read on its own — in a browser, a pull request or a report —
/// without the table next to it, and without pulling a plotting stack into a Swift package. So the plot carries
/// its own title, axis labels, a legend, and dashed reference lines for the machine limits measured in the same
/// run (raw socket, memcpy, kernel), which are what make a bandwidth figure meaningful.
///
/// Both axes are logarithmic: x is the message size in bytes (ticks as binary sizes: 8 B, 1 KiB, 1 MiB, 64 MiB),
/// y is GB/s (ticks at decades). Points a log axis cannot show (zero, negative, NaN, infinite) are skipped, so a
/// series always has exactly one `<polyline>`, possibly with no points. Each marker has a `<title>` tooltip with
/// its exact size and bandwidth.
public enum SVGPlot {
    /// Series colours: Tableau 10, distinguishable for most colour-vision deficiencies, and marker shapes cycle
    /// too so that series stay apart in greyscale.
    static let palette = ["#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f",
                          "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac"]
    static let referenceColor = "#555555"
    static let gridColor = "#dddddd"
    static let minorGridColor = "#f0f0f0"
    /// Rough width of one character at the 12 px label size, used to lay out labels without measuring text.
    static let characterWidth = 7.0

    /// Log-log axes (x: message size in bytes, y: GB/s), tick labels as sizes (8 B, 1 KiB, 1 MiB, 64 MiB) and
    /// decades of GB/s, one colored polyline with markers per series, a legend, title, axis labels, optional
    /// horizontal dashed reference lines (e.g. "raw socket 3.2 GB/s").
    ///
    /// The axes cover every drawable point and reference line, rounded out to whole octaves and decades. With no
    /// drawable data at all the axes default to 8 B … 64 MiB and 0.01 … 10 GB/s, so an empty plot still renders.
    public static func render(title: String, series: [PlotSeries], references: [(label: String, y: Double)] = [],
                              xLabel: String = "message size", yLabel: String = "bandwidth (GB/s)",
                              width: Int = 900, height: Int = 560) -> String {
        let width = Double(max(width, 320)), height = Double(max(height, 200))
        let drawable = series.map { entry in
            entry.points.filter { isDrawable($0.x) && isDrawable($0.y) }.sorted { $0.x < $1.x }
        }
        let shownReferences = references.filter { isDrawable($0.y) }

        // Layout: the legend sits to the right of the plot, sized to the longest name (capped at a third of the
        // width), so curves and legend never overlap whatever the data.
        let legendNameLimit = Int(width / 3 / characterWidth)
        let legendNames = series.enumerated().map { index, entry in
            truncated(drawable[index].isEmpty ? "\(entry.name) (no data)" : entry.name, to: legendNameLimit)
        }
        let longestName = legendNames.map(\.count).max() ?? 0
        let legendWidth = series.isEmpty ? 0 : max(64, 40 + Double(longestName) * characterWidth)
        let left = 72.0, top = 48.0, bottom = 58.0
        let right = series.isEmpty ? 24.0 : legendWidth + 32
        let plotLeft = left, plotRight = width - right, plotTop = top, plotBottom = height - bottom

        let xValues = drawable.flatMap { $0.map(\.x) }
        let yValues = drawable.flatMap { $0.map(\.y) } + shownReferences.map(\.y)
        let xAxis = LogAxis(base: 2, values: xValues, fallback: 3...26, pixelStart: plotLeft, pixelEnd: plotRight,
                            label: sizeLabel, extent: { Double($0.count) * characterWidth })
        let yAxis = LogAxis(base: 10, values: yValues, fallback: -2...1, pixelStart: plotBottom, pixelEnd: plotTop,
                            label: numberLabel, extent: { _ in 12 })

        var svg = """
            <?xml version="1.0" encoding="UTF-8"?>
            <svg xmlns="http://www.w3.org/2000/svg" width="\(Int(width))" height="\(Int(height))" \
            viewBox="0 0 \(Int(width)) \(Int(height))" font-family="Helvetica, Arial, sans-serif" font-size="12">
            <title>\(escape(title))</title>
            <rect x="0" y="0" width="\(Int(width))" height="\(Int(height))" fill="#ffffff"/>

            """

        // Grid and ticks.
        svg += "<g class=\"grid\" stroke-width=\"1\">\n"
        for tick in xAxis.ticks {
            let x = format(xAxis.pixel(tick.value))
            let color = tick.label == nil ? minorGridColor : gridColor
            svg += "<line x1=\"\(x)\" y1=\"\(format(plotTop))\" x2=\"\(x)\" y2=\"\(format(plotBottom))\" "
                + "stroke=\"\(color)\"/>\n"
        }
        for tick in yAxis.ticks {
            let y = format(yAxis.pixel(tick.value))
            let color = tick.label == nil ? minorGridColor : gridColor
            svg += "<line x1=\"\(format(plotLeft))\" y1=\"\(y)\" x2=\"\(format(plotRight))\" y2=\"\(y)\" "
                + "stroke=\"\(color)\"/>\n"
        }
        svg += "</g>\n"
        svg += "<rect class=\"frame\" x=\"\(format(plotLeft))\" y=\"\(format(plotTop))\" "
            + "width=\"\(format(plotRight - plotLeft))\" height=\"\(format(plotBottom - plotTop))\" "
            + "fill=\"none\" stroke=\"#333333\" stroke-width=\"1\"/>\n"
        svg += "<g class=\"x-ticks\" fill=\"#333333\" text-anchor=\"middle\" font-size=\"11\">\n"
        for tick in xAxis.ticks {
            let x = format(xAxis.pixel(tick.value))
            let length = tick.label == nil ? 3.0 : 6.0
            svg += "<line x1=\"\(x)\" y1=\"\(format(plotBottom))\" x2=\"\(x)\" y2=\"\(format(plotBottom + length))\" "
                + "stroke=\"#333333\"/>\n"
            if let label = tick.label {
                svg += "<text x=\"\(x)\" y=\"\(format(plotBottom + 20))\">\(escape(label))</text>\n"
            }
        }
        svg += "</g>\n<g class=\"y-ticks\" fill=\"#333333\" text-anchor=\"end\" font-size=\"11\">\n"
        for tick in yAxis.ticks {
            let y = format(yAxis.pixel(tick.value))
            let length = tick.label == nil ? 3.0 : 6.0
            svg += "<line x1=\"\(format(plotLeft - length))\" y1=\"\(y)\" x2=\"\(format(plotLeft))\" y2=\"\(y)\" "
                + "stroke=\"#333333\"/>\n"
            if let label = tick.label {
                svg += "<text x=\"\(format(plotLeft - 9))\" y=\"\(y)\" dy=\"0.35em\">\(escape(label))</text>\n"
            }
        }
        svg += "</g>\n"

        // Title and axis labels.
        svg += "<text class=\"title\" x=\"\(format(width / 2))\" y=\"28\" text-anchor=\"middle\" font-size=\"16\" "
            + "font-weight=\"bold\" fill=\"#222222\">\(escape(title))</text>\n"
        svg += "<text class=\"x-label\" x=\"\(format((plotLeft + plotRight) / 2))\" y=\"\(format(height - 14))\" "
            + "text-anchor=\"middle\" font-size=\"13\" fill=\"#222222\">\(escape(xLabel))</text>\n"
        let yLabelX = 20.0, yLabelY = (plotTop + plotBottom) / 2
        svg += "<text class=\"y-label\" x=\"\(format(yLabelX))\" y=\"\(format(yLabelY))\" text-anchor=\"middle\" "
            + "font-size=\"13\" fill=\"#222222\" transform=\"rotate(-90 \(format(yLabelX)) \(format(yLabelY)))\">"
            + "\(escape(yLabel))</text>\n"

        // Reference lines, under the series; their labels are drawn after the series, on top.
        svg += "<g class=\"references\">\n"
        for reference in shownReferences {
            let y = format(yAxis.pixel(reference.y))
            svg += "<line class=\"reference\" x1=\"\(format(plotLeft))\" y1=\"\(y)\" x2=\"\(format(plotRight))\" "
                + "y2=\"\(y)\" stroke=\"\(referenceColor)\" stroke-width=\"1.5\" stroke-dasharray=\"7 4\"/>\n"
        }
        svg += "</g>\n"

        // Series: one polyline each, then its markers with tooltips.
        for (index, entry) in series.enumerated() {
            let color = palette[index % palette.count]
            let points = drawable[index].map { (x: xAxis.pixel($0.x), y: yAxis.pixel($0.y), raw: $0) }
            svg += "<g class=\"series\" data-name=\"\(escape(entry.name))\">\n"
            svg += "<polyline fill=\"none\" stroke=\"\(color)\" stroke-width=\"2\" stroke-linejoin=\"round\" points=\""
                + points.map { "\(format($0.x)),\(format($0.y))" }.joined(separator: " ") + "\"/>\n"
            for point in points {
                let tooltip = "\(entry.name): \(sizeLabel(point.raw.x)), \(numberLabel(point.raw.y)) GB/s"
                svg += marker(shape: index, x: point.x, y: point.y, color: color,
                              tooltip: escape(tooltip)) + "\n"
            }
            svg += "</g>\n"
        }

        // Reference labels, on top of the curves with a white halo. Each goes right-aligned above its line if that
        // is free, else below it, else at the left end (small messages rarely reach the limits): never across
        // another reference line or label.
        svg += "<g class=\"reference-labels\" fill=\"\(referenceColor)\" stroke=\"#ffffff\" stroke-width=\"3\" "
            + "paint-order=\"stroke\">\n"
        let lineYs = shownReferences.map { yAxis.pixel($0.y) }
        var taken: [(left: Double, right: Double, top: Double, bottom: Double)] = []
        for reference in shownReferences.sorted(by: { $0.y > $1.y }) {
            let y = yAxis.pixel(reference.y)
            let textWidth = Double(reference.label.count) * characterWidth
            let candidates = [(true, y - 5), (true, y + 15), (false, y - 5), (false, y + 15)]
            let boxes = candidates.map { right, baseline in
                let left = right ? plotRight - 6 - textWidth : plotLeft + 6
                return (right: right, baseline: baseline,
                        box: (left: left, right: left + textWidth, top: baseline - 11, bottom: baseline + 3))
            }
            let choice = boxes.first { candidate in
                let box = candidate.box
                return box.top >= plotTop && box.bottom <= plotBottom
                    && !lineYs.contains { $0 > box.top && $0 < box.bottom }
                    && !taken.contains { $0.left < box.right && box.left < $0.right && $0.top < box.bottom
                        && box.top < $0.bottom }
            } ?? boxes[0]
            taken.append(choice.box)
            let anchor = choice.right ? "end" : "start"
            let x = choice.right ? plotRight - 6 : plotLeft + 6
            svg += "<text x=\"\(format(x))\" y=\"\(format(choice.baseline))\" text-anchor=\"\(anchor)\">"
                + "\(escape(reference.label))</text>\n"
        }
        svg += "</g>\n"
        if drawable.allSatisfy(\.isEmpty) {
            svg += "<text class=\"no-data\" x=\"\(format((plotLeft + plotRight) / 2))\" "
                + "y=\"\(format((plotTop + plotBottom) / 2))\" text-anchor=\"middle\" font-size=\"14\" "
                + "fill=\"#888888\">no data</text>\n"
        }

        // Legend, right of the plot.
        if !series.isEmpty {
            let legendLeft = plotRight + 16
            svg += "<g class=\"legend\">\n"
            svg += "<rect x=\"\(format(legendLeft))\" y=\"\(format(plotTop))\" width=\"\(format(legendWidth))\" "
                + "height=\"\(format(Double(series.count) * 20 + 10))\" fill=\"#ffffff\" stroke=\"#cccccc\"/>\n"
            for (index, name) in legendNames.enumerated() {
                let color = palette[index % palette.count]
                let y = plotTop + 15 + Double(index) * 20
                svg += "<line x1=\"\(format(legendLeft + 8))\" y1=\"\(format(y))\" x2=\"\(format(legendLeft + 32))\" "
                    + "y2=\"\(format(y))\" stroke=\"\(color)\" stroke-width=\"2\"/>\n"
                svg += marker(shape: index, x: legendLeft + 20, y: y, color: color, tooltip: nil) + "\n"
                svg += "<text x=\"\(format(legendLeft + 40))\" y=\"\(format(y))\" dy=\"0.35em\" fill=\"#222222\">"
                    + "\(escape(name))</text>\n"
            }
            svg += "</g>\n"
        }
        svg += "</svg>\n"
        return svg
    }

    // MARK: Helpers

    /// Whether a log axis can show `value`.
    static func isDrawable(_ value: Double) -> Bool { value.isFinite && value > 0 }

    /// A marker centred on (x, y): circle, square, triangle or diamond by series index.
    static func marker(shape: Int, x: Double, y: Double, color: String, tooltip: String?) -> String {
        let r = 3.8
        let element: String, geometry: String
        switch shape % 4 {
        case 0:
            (element, geometry) = ("circle", "cx=\"\(format(x))\" cy=\"\(format(y))\" r=\"\(format(r))\"")
        case 1:
            (element, geometry) = ("rect", "x=\"\(format(x - r))\" y=\"\(format(y - r))\" "
                + "width=\"\(format(2 * r))\" height=\"\(format(2 * r))\"")
        case 2:
            (element, geometry) = ("polygon", "points=\"\(format(x)),\(format(y - r - 0.8)) "
                + "\(format(x + r + 0.6)),\(format(y + r)) \(format(x - r - 0.6)),\(format(y + r))\"")
        default:
            (element, geometry) = ("polygon", "points=\"\(format(x)),\(format(y - r - 1)) "
                + "\(format(x + r + 1)),\(format(y)) \(format(x)),\(format(y + r + 1)) "
                + "\(format(x - r - 1)),\(format(y))\"")
        }
        let open = "<\(element) class=\"marker\" \(geometry) fill=\"\(color)\" stroke=\"#ffffff\" stroke-width=\"0.8\""
        guard let tooltip else { return open + "/>" }
        return open + "><title>\(tooltip)</title></\(element)>"
    }

    /// A byte count as a binary size: "8 B", "1 KiB", "64 MiB", "1.5 GiB".
    static func sizeLabel(_ bytes: Double) -> String {
        let units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"]
        var value = bytes, unit = 0
        while value >= 1024 && unit < units.count - 1 {
            value /= 1024
            unit += 1
        }
        return "\(numberLabel(value)) \(units[unit])"
    }

    /// A number with up to 3 significant digits and no trailing zeros: "0.01", "3.2", "250", "1e+06".
    static func numberLabel(_ value: Double) -> String {
        String(format: "%.3g", value)
    }

    /// A pixel coordinate with one decimal, enough for any screen and a compact file.
    static func format(_ value: Double) -> String {
        String(format: "%.1f", value)
    }

    /// `text` shortened to `limit` characters with an ellipsis.
    static func truncated(_ text: String, to limit: Int) -> String {
        guard text.count > limit, limit > 1 else { return text }
        return String(text.prefix(limit - 1)) + "…"
    }

    /// Escapes the five XML special characters (and replaces characters XML cannot hold), so names and labels
    /// cannot break the document.
    static func escape(_ text: String) -> String { XMLText.escape(text) }
}
