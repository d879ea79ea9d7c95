import Foundation

/// A logarithmic axis for `SVGPlot`: maps values to pixels and chooses ticks.
///
/// Bandwidth sweeps span many orders of magnitude in both message size (8 B … 64 MiB) and bandwidth, so both axes
/// are logarithmic. The size axis works in octaves (base 2) so its ticks fall on round binary sizes (1 KiB,
/// 1 MiB); the bandwidth axis works in decades (base 10) so its ticks are round GB/s figures.
struct LogAxis {
    /// A tick mark; `label` is nil for minor ticks (drawn as faint grid lines only).
    struct Tick {
        var value: Double
        var label: String?
    }

    /// 2 (size axis) or 10 (bandwidth axis).
    let base: Double
    /// The domain in log units (octaves or decades), padded so extreme points do not sit on the frame.
    let lower: Double
    let upper: Double
    /// Pixel coordinates of `lower` and `upper` (for y, `pixelStart` is the bottom).
    let pixelStart: Double
    let pixelEnd: Double
    let ticks: [Tick]

    /// An axis covering `values` (positive and finite; may be empty, then `fallback` in log units is used), from
    /// whole octaves/decades around the data. `extent` is a label's size along the axis in pixels (its width on x,
    /// its height on y), used to keep labels from overlapping.
    init(base: Double, values: [Double], fallback: ClosedRange<Double>, pixelStart: Double, pixelEnd: Double,
         label: (Double) -> String, extent: (String) -> Double) {
        self.base = base
        self.pixelStart = pixelStart
        self.pixelEnd = pixelEnd
        let logs = values.map { Self.log($0, base) }
        var low = logs.min().map { $0.rounded(.down) } ?? fallback.lowerBound
        var high = logs.max().map { $0.rounded(.up) } ?? fallback.upperBound
        if high - low < 1 {
            low -= 1
            high += 1
        }
        let padding = (high - low) * 0.03
        lower = low - padding
        upper = high + padding

        // Candidate ticks: every whole unit, plus 2…9 × each decade as minor grid lines.
        let first = Int(low), last = Int(high)
        var ticks: [Tick] = []
        for exponent in first...last {
            let value = Foundation.pow(base, Double(exponent))
            ticks.append(Tick(value: value, label: nil))
            if base == 10 && exponent < last {
                ticks += (2...9).map { Tick(value: value * Double($0), label: nil) }
            }
        }

        // Labels, most important first, each kept only if it does not crowd one already placed:
        // 1. the ends of the data's range (the sweep's smallest and largest sizes: 8 B, 64 MiB);
        // 2. every `step`-th unit, aligned to multiples of `step` so they are round (1 KiB, 1 MiB, 1 GB/s), with
        //    the smallest step whose evenly spaced labels fit;
        // 3. with at most two decades, 2 and 5 × each decade, or a one-decade axis would show just two numbers.
        let gap = 10.0
        let unitPixels = Swift.abs(pixelEnd - pixelStart) / (upper - lower)
        let widest = (first...last).map { extent(label(Foundation.pow(base, Double($0)))) }.max() ?? 0
        let step = [1, 2, 5, 10, 20, 50].first { Double($0) * unitPixels >= widest + gap } ?? 100
        var order = [first, last].map { Foundation.pow(base, Double($0)) }
        order += (first...last).filter { $0.isMultiple(of: step) }.map { Foundation.pow(base, Double($0)) }
        if base == 10 && last - first <= 2 {
            order += (first..<last).flatMap { exponent in
                [2.0, 5.0].map { $0 * Foundation.pow(base, Double(exponent)) }
            }
        }
        var placed: [(pixel: Double, extent: Double)] = []
        for value in order {
            guard let index = ticks.firstIndex(where: { $0.value == value }), ticks[index].label == nil else {
                continue
            }
            let text = label(value)
            let pixel = Self.pixel(value, base: base, lower: lower, upper: upper, start: pixelStart, end: pixelEnd)
            let width = extent(text)
            if placed.allSatisfy({ Swift.abs($0.pixel - pixel) >= ($0.extent + width) / 2 + gap }) {
                ticks[index].label = text
                placed.append((pixel, width))
            }
        }
        self.ticks = ticks
    }

    /// Pixel coordinate of a positive `value`.
    func pixel(_ value: Double) -> Double {
        Self.pixel(value, base: base, lower: lower, upper: upper, start: pixelStart, end: pixelEnd)
    }

    private static func pixel(_ value: Double, base: Double, lower: Double, upper: Double, start: Double,
                              end: Double) -> Double {
        start + (log(value, base) - lower) / (upper - lower) * (end - start)
    }

    /// The logarithm, snapped to a whole number when within rounding error of one, so that 1000 GB/s is exactly
    /// 3 decades and does not pull in an empty fourth.
    static func log(_ value: Double, _ base: Double) -> Double {
        let raw = base == 2 ? Foundation.log2(value) : Foundation.log10(value)
        let nearest = raw.rounded()
        return Swift.abs(raw - nearest) < 1e-9 ? nearest : raw
    }
}
