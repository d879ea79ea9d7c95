/// Text made safe for XML character data and attribute values, for the SVG drawings (bench plots,
/// topology heatmaps) that put user-chosen names into markup.
///
/// The five special characters become entities. Characters XML 1.0 cannot hold at all, even escaped
/// (C0 controls other than tab, newline and carriage return; U+FFFE, U+FFFF), become U+FFFD: a name
/// read from a file may contain anything, and one stray control byte would otherwise make the whole
/// document unreadable.
public enum XMLText {
    public static func escape(_ text: String) -> String {
        var escaped = ""
        escaped.reserveCapacity(text.utf8.count)
        for scalar in text.unicodeScalars {
            switch scalar {
            case "&": escaped += "&amp;"
            case "<": escaped += "&lt;"
            case ">": escaped += "&gt;"
            case "\"": escaped += "&quot;"
            case "'": escaped += "&apos;"
            case "\t", "\n", "\r": escaped.unicodeScalars.append(scalar)
            case _ where scalar.value < 0x20 || scalar.value == 0xFFFE || scalar.value == 0xFFFF:
                escaped += "\u{FFFD}"
            default: escaped.unicodeScalars.append(scalar)
            }
        }
        return escaped
    }
}
