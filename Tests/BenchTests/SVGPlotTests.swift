import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
import Testing
@testable import Bench

/// The plot must be a well-formed SVG document that stands on its own: one polyline per series holding exactly
/// its drawable points, every legend name and reference label present, no NaN or infinity anywhere.
@Suite struct SVGPlotTests {
    /// A sweep from 8 B to 64 MiB, like `tributary bench`'s.
    static let sizes = (3...26).map { Double(1 << $0) }

    static func sweep(scale: Double) -> [(x: Double, y: Double)] {
        sizes.map { size in (x: size, y: scale * size / (size + 65_536)) }
    }

    @Test func sweepPlotIsWellFormedWithOnePolylinePerSeries() throws {
        let series = [
            PlotSeries(name: "allreduce f32 sum", points: Self.sweep(scale: 2.5)),
            PlotSeries(name: "allreduce f64 max", points: Self.sweep(scale: 1.2)),
            PlotSeries(name: "broadcast u8", points: Self.sweep(scale: 4)),
        ]
        let svg = SVGPlot.render(title: "allreduce, 8 ranks", series: series,
                                 references: [(label: "raw socket 3.2 GB/s", y: 3.2), (label: "memcpy 11 GB/s", y: 11)])
        let root = try Self.parse(svg)
        #expect(root.name == "svg")
        let polylines = Self.elements(named: "polyline", in: root)
        #expect(polylines.count == series.count)
        for polyline in polylines {
            #expect(try Self.coordinates(polyline).count == Self.sizes.count)
        }
        let text = Self.allText(root)
        for entry in series {
            #expect(text.contains(entry.name))
        }
        for label in ["allreduce, 8 ranks", "raw socket 3.2 GB/s", "memcpy 11 GB/s", "message size",
                      "bandwidth (GB/s)", "1 KiB", "1 MiB", "64 MiB"] {
            #expect(text.contains(label), "missing text \(label)")
        }
        #expect(Self.elements(named: "line", in: root).filter { Self.attribute("stroke-dasharray", of: $0) != nil }
            .count == 2)
        Self.expectFiniteNumbers(svg)
    }

    @Test func nonPositiveAndNonFinitePointsAreSkipped() throws {
        let points: [(x: Double, y: Double)] = [
            (x: 1024, y: 1), (x: 0, y: 2), (x: 2048, y: 0), (x: -4096, y: 3), (x: 4096, y: -1),
            (x: .nan, y: 1), (x: 8192, y: .infinity), (x: 16_384, y: 4), (x: 32_768, y: .nan),
        ]
        let svg = SVGPlot.render(title: "skips", series: [PlotSeries(name: "mixed", points: points)],
                                 references: [(label: "zero", y: 0), (label: "nan", y: .nan)])
        let root = try Self.parse(svg)
        let polylines = Self.elements(named: "polyline", in: root)
        #expect(polylines.count == 1)
        let coordinates = try Self.coordinates(polylines[0])
        #expect(coordinates.count == 2)
        // Sorted by size: left to right, and the higher bandwidth is higher up (smaller y).
        if coordinates.count == 2 {
            #expect(coordinates[0].x < coordinates[1].x)
            #expect(coordinates[0].y > coordinates[1].y)
        }
        #expect(Self.elements(named: "line", in: root).filter { Self.attribute("stroke-dasharray", of: $0) != nil }
            .isEmpty)
        Self.expectFiniteNumbers(svg)
    }

    @Test func seriesWithoutDataStillGetsAnEmptyPolylineAndLegendEntry() throws {
        let svg = SVGPlot.render(title: "empty", series: [PlotSeries(name: "failed", points: [(x: 8, y: 0)]),
                                                          PlotSeries(name: "none", points: [])])
        let root = try Self.parse(svg)
        let polylines = Self.elements(named: "polyline", in: root)
        #expect(polylines.count == 2)
        #expect(try polylines.allSatisfy { try Self.coordinates($0).isEmpty })
        #expect(Self.allText(root).contains("failed (no data)"))
        Self.expectFiniteNumbers(svg)
    }

    @Test func singlePointAndNoSeriesRender() throws {
        let one = SVGPlot.render(title: "one", series: [PlotSeries(name: "p", points: [(x: 1_048_576, y: 1)])])
        #expect(try Self.coordinates(Self.elements(named: "polyline", in: Self.parse(one))[0]).count == 1)
        Self.expectFiniteNumbers(one)
        let none = SVGPlot.render(title: "nothing", series: [])
        #expect(Self.elements(named: "polyline", in: try Self.parse(none)).isEmpty)
        Self.expectFiniteNumbers(none)
    }

    @Test func markupInNamesIsEscaped() throws {
        let name = "a<b & \"c\" 'd'>"
        let series = [PlotSeries(name: name, points: Self.sweep(scale: 1))]
        let svg = SVGPlot.render(title: "<title> & more", series: series, references: [(label: "x < y", y: 0.5)])
        let text = Self.allText(try Self.parse(svg))
        #expect(text.contains(name))
        #expect(text.contains("<title> & more"))
        #expect(text.contains("x < y"))
    }

    @Test func tickLabelsAreBinarySizesAndDecimalNumbers() {
        #expect(SVGPlot.sizeLabel(8) == "8 B")
        #expect(SVGPlot.sizeLabel(1024) == "1 KiB")
        #expect(SVGPlot.sizeLabel(1_048_576) == "1 MiB")
        #expect(SVGPlot.sizeLabel(Double(64 << 20)) == "64 MiB")
        #expect(SVGPlot.sizeLabel(1536) == "1.5 KiB")
        #expect(SVGPlot.numberLabel(0.01) == "0.01")
        #expect(SVGPlot.numberLabel(100) == "100")
        #expect(SVGPlot.numberLabel(3.2) == "3.2")
    }

    // MARK: Helpers

    static func parse(_ svg: String) throws -> XMLElement {
        let document = try XMLDocument(data: Data(svg.utf8), options: [])
        return try #require(document.rootElement())
    }

    /// Elements named `name` anywhere under `root` (by local name: SVG uses a default namespace).
    static func elements(named name: String, in root: XMLElement) -> [XMLElement] {
        var found: [XMLElement] = []
        func visit(_ element: XMLElement) {
            if (element.localName ?? element.name) == name { found.append(element) }
            for case let child as XMLElement in element.children ?? [] { visit(child) }
        }
        visit(root)
        return found
    }

    /// An attribute's value, found by scanning: FoundationXML's `attribute(forName:)` finds nothing on elements in
    /// a default namespace, as every SVG element is.
    static func attribute(_ name: String, of element: XMLElement) -> String? {
        element.attributes?.first { ($0.localName ?? $0.name) == name }?.stringValue
    }

    /// All character data in the document, so names and labels can be looked up after XML unescaping.
    static func allText(_ root: XMLElement) -> String {
        var parts: [String] = []
        func visit(_ node: XMLNode) {
            if node.kind == .text, let value = node.stringValue { parts.append(value) }
            if let element = node as? XMLElement {
                for attribute in element.attributes ?? [] { parts.append(attribute.stringValue ?? "") }
            }
            for child in node.children ?? [] { visit(child) }
        }
        visit(root)
        return parts.joined(separator: "\n")
    }

    static func coordinates(_ polyline: XMLElement) throws -> [(x: Double, y: Double)] {
        let points = try #require(Self.attribute("points", of: polyline))
        return try points.split(separator: " ").map { pair in
            let values = pair.split(separator: ",").compactMap { Double($0) }
            try #require(values.count == 2, "bad point \(pair)")
            return (x: values[0], y: values[1])
        }
    }

    static func expectFiniteNumbers(_ svg: String, sourceLocation: SourceLocation = #_sourceLocation) {
        let lowered = svg.lowercased()
        #expect(!lowered.contains("nan"), sourceLocation: sourceLocation)
        #expect(!lowered.contains("inf"), sourceLocation: sourceLocation)
    }
}
