/// One curve of a bandwidth plot: a name for the legend and its (message size in bytes, GB/s) points.
///
/// Points are kept as given; `SVGPlot` sorts them by size and drops the ones a log axis cannot show, so callers
/// can pass raw sweep results (including failed, zero-bandwidth sizes) without cleaning them first.
public struct PlotSeries: Sendable {
    public var name: String
    public var points: [(x: Double, y: Double)]

    public init(name: String, points: [(x: Double, y: Double)]) {
        self.name = name
        self.points = points
    }
}
