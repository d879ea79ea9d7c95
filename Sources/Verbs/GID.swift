#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import CVerbs

/// One entry of a port's GID table (`union ibv_gid` plus `struct ibv_gid_entry`'s type and netdev).
///
/// On RoCE the GID is the port's IP address as an IPv6 address: an IPv4 address appears IPv4-mapped
/// (`::ffff:10.99.0.1`). rdma_cm over IPv4 uses the entry that is both IPv4-mapped and RoCE v2, and a
/// manually connected QP must name that entry's index as its source GID.
public struct GID: Sendable, Equatable, CustomStringConvertible {
    /// The GID's type (`enum ibv_gid_type`).
    public enum Kind: Sendable, Equatable, CustomStringConvertible {
        case infiniBand, roceV1, roceV2

        public var description: String {
            switch self {
            case .infiniBand: "IB"
            case .roceV1: "RoCE v1"
            case .roceV2: "RoCE v2"
            }
        }
    }

    /// The 16 raw bytes, network order.
    public var bytes: [UInt8]
    /// The entry's index in the port's table.
    public var index: Int
    /// The type, or nil for an empty entry or when the kernel did not say.
    public var type: Kind?
    /// The `ifindex` of the netdev the entry comes from (RoCE), if any.
    public var netdevIndex: UInt32?

    public init(bytes: [UInt8], index: Int, type: Kind?, netdevIndex: UInt32? = nil) {
        precondition(bytes.count == 16, "a GID is 16 bytes")
        self.bytes = bytes
        self.index = index
        self.type = type
        self.netdevIndex = netdevIndex
    }

    init(_ entry: ibv_gid_entry) {
        let kind: Kind? = switch entry.gid_type {
        case IBV_GID_TYPE_IB.rawValue: .infiniBand
        case IBV_GID_TYPE_ROCE_V1.rawValue: .roceV1
        case IBV_GID_TYPE_ROCE_V2.rawValue: .roceV2
        default: nil
        }
        self.init(bytes: Self.bytes(of: entry.gid), index: Int(entry.gid_index), type: kind,
                  netdevIndex: entry.ndev_ifindex == 0 ? nil : entry.ndev_ifindex)
    }

    static func bytes(of gid: ibv_gid) -> [UInt8] {
        var copy = gid
        return withUnsafeBytes(of: &copy.raw) { Array($0) }
    }

    /// The C union, for `ibv_ah_attr.grh.dgid`.
    var raw: ibv_gid {
        var gid = ibv_gid()
        withUnsafeMutableBytes(of: &gid.raw) { $0.copyBytes(from: bytes) }
        return gid
    }

    /// All zero: an unused table entry.
    public var isZero: Bool { bytes.allSatisfy { $0 == 0 } }

    /// `::ffff:a.b.c.d`.
    public var isIPv4Mapped: Bool {
        bytes[0..<10].allSatisfy { $0 == 0 } && bytes[10] == 0xff && bytes[11] == 0xff
    }

    /// The entry rdma_cm uses for an IPv4 address: IPv4-mapped and of type RoCE v2.
    public var isIPv4MappedRoCEv2: Bool { isIPv4Mapped && type == .roceV2 }

    /// The dotted IPv4 address when the GID is IPv4-mapped.
    public var ipv4Address: String? {
        guard isIPv4Mapped else { return nil }
        return bytes[12...].map(String.init).joined(separator: ".")
    }

    /// The netdev's name (`if_indextoname`), when the entry names one that exists in this namespace.
    public var netdevName: String? {
        guard let netdevIndex else { return nil }
        var name = [CChar](repeating: 0, count: Int(IF_NAMESIZE) + 1)
        guard if_indextoname(netdevIndex, &name) != nil else { return nil }
        return String(nulTerminated: name)
    }

    /// IPv6-style text, as `ibv_devinfo -v` and `show_gids` print it: `fe80::…`, `::ffff:10.99.0.1`.
    public var description: String {
        var address = in6_addr()
        withUnsafeMutableBytes(of: &address) { $0.copyBytes(from: bytes) }
        var text = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN) + 1)
        guard inet_ntop(AF_INET6, &address, &text, socklen_t(text.count)) != nil else {
            return bytes.map { String($0, radix: 16) }.joined(separator: ":")
        }
        return String(nulTerminated: text)
    }
}
