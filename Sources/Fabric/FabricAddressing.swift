/// Address pools, interface names and namespace names of a fabric: one place for the numbering
/// rules, so the plan, the controller and the status check cannot disagree.
///
/// Everything lives inside 10.76.0.0/14 and only inside the fabric's own namespaces
/// (the root namespace never sees these addresses), so two fabrics up at once may reuse them:
/// - node data addresses: `10.76.0.0/16`, node i gets `10.76.0.0 + i + 1` as a /32 on `data0`;
/// - links: `10.77.0.0/16` cut into /30s, link i gets `10.77.0.0 + 4i` (`+1` for end a, `+2` for b);
/// - management: `10.78.0.0/16` on one bridge, the management namespace `.1`, node i `+ i + 2`.
enum FabricAddressing {
    static let dataBase: UInt32 = 0x0A4C_0000        // 10.76.0.0
    static let linkBase: UInt32 = 0x0A4D_0000        // 10.77.0.0
    static let managementBase: UInt32 = 0x0A4E_0000  // 10.78.0.0
    static let linkPrefixLength = 30
    static let managementPrefixLength = 16
    /// /16 pools: node addresses up to .255.254 (management needs i + 2 below the broadcast address).
    static let maxNodes = 65_533
    /// /30s in a /16.
    static let maxLinks = 16_384

    /// The interface holding a node's data address: a bridge without ports (the kernel here has
    /// no `dummy` links), up, so the address is local and programs that list interfaces find it.
    static let dataInterface = "data0"

    /// Bridge in the management namespace that every node's management veth is a port of.
    static let managementBridge = "mbr"

    static func dataAddress(node: Int) -> String { format(dataBase + UInt32(node) + 1) }
    static func linkAddress(link: Int, end: Int) -> String {
        format(linkBase + UInt32(link) * 4 + UInt32(end) + 1) + "/\(linkPrefixLength)"
    }
    static func managementAddress(node: Int) -> String { format(managementBase + UInt32(node) + 2) }
    static var managementHubAddress: String { format(managementBase + 1) }

    /// Link interfaces: `e<index>a` in node a, `e<index>b` in node b (≤ 7 characters up to the link limit).
    static func linkInterface(link: Int, end: Int) -> String { "e\(link)" + (end == 0 ? "a" : "b") }
    /// A node's management veth (in its namespace) and the peer that is a bridge port (management namespace).
    static func managementInterface(node: Int) -> String { "m\(node)" }
    static func managementPort(node: Int) -> String { "p\(node)" }

    static func format(_ address: UInt32) -> String {
        "\(address >> 24).\((address >> 16) & 0xFF).\((address >> 8) & 0xFF).\(address & 0xFF)"
    }

    /// Fabric names keep ASCII letters and digits only (others become `_`), so no prefix
    /// `trib-<name>-` starts another fabric's namespaces: `trib-a-` never matches `trib-a_b-…`,
    /// and `trib-a-b-…` can only belong to fabric `a` (node `b-…`). Capped to keep names readable.
    static func fabricName(_ raw: String) -> String {
        let kept = String(raw.unicodeScalars.prefix(48).map { scalar -> Character in
            scalar.isASCII && (scalar.properties.isAlphabetic || ("0"..."9").contains(scalar)) ? Character(scalar) : "_"
        })
        return kept.isEmpty ? "fabric" : kept
    }

    /// The node part of a namespace name: ASCII letters, digits, `-` and `_`; anything else (slashes,
    /// dots, spaces) becomes `_`. `.` is kept out so that it can disambiguate collisions.
    static func namespaceComponent(_ raw: String) -> String {
        let kept = String(raw.unicodeScalars.prefix(64).map { scalar -> Character in
            let ok = scalar.isASCII && (scalar.properties.isAlphabetic || ("0"..."9").contains(scalar)
                || scalar == "-" || scalar == "_")
            return ok ? Character(scalar) : "_"
        })
        return kept.isEmpty ? "_" : kept
    }

    static let namespacePrefixRoot = "trib-"
    static func prefix(fabric: String) -> String { "\(namespacePrefixRoot)\(fabric)-" }
    static let managementComponent = "mgmt"
}
