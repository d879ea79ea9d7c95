/// Colours for link heat, from cool (little traffic) to hot (the busiest link, or a full link).
///
/// Blue through cyan and amber to red: the hue alone tells cool from hot, every stop stays dark
/// enough to read as a line on white, and none is grey, which is kept for links that carried nothing.
enum HeatScale {
    /// Links with no traffic at all.
    static let idle = "#c4c4c4"

    /// Stops of the ramp at evenly spaced heats (0, 0.25, …, 1).
    static let stops: [(red: Double, green: Double, blue: Double)] = [
        (0x2c, 0x5f, 0xb5),
        (0x1f, 0xa2, 0xc4),
        (0xe8, 0xb3, 0x2a),
        (0xee, 0x6c, 0x1f),
        (0xc4, 0x14, 0x1b),
    ]

    /// The colour of `heat` in [0, 1] (values outside, and NaN, are clamped) as `#rrggbb`.
    static func color(_ heat: Double) -> String {
        let t = heat.isNaN ? 0 : min(max(heat, 0), 1)
        let scaled = t * Double(stops.count - 1)
        let lower = min(Int(scaled), stops.count - 2)
        let f = scaled - Double(lower)
        let a = stops[lower], b = stops[lower + 1]
        return hex(a.red + (b.red - a.red) * f, a.green + (b.green - a.green) * f, a.blue + (b.blue - a.blue) * f)
    }

    /// `#rrggbb` of the stop colours, for the legend's gradient.
    static var stopColors: [String] { stops.map { hex($0.red, $0.green, $0.blue) } }

    private static func hex(_ red: Double, _ green: Double, _ blue: Double) -> String {
        let digits = Array("0123456789abcdef")
        var out = "#"
        for channel in [red, green, blue] {
            let value = Int(channel.rounded())
            out.append(digits[value / 16])
            out.append(digits[value % 16])
        }
        return out
    }
}
