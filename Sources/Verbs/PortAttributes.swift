import CVerbs

/// The state of one device port, from `ibv_query_port` (`struct ibv_port_attr`): whether it can carry
/// traffic, its link layer, its MTUs in bytes, and how large its GID table is.
public struct PortAttributes: Sendable, Equatable {
    /// The logical port state (`enum ibv_port_state`).
    public enum State: Sendable, Equatable, CustomStringConvertible {
        case nop, down, initializing, armed, active, activeDefer
        case unknown(UInt32)

        init(_ raw: ibv_port_state) {
            switch raw {
            case IBV_PORT_NOP: self = .nop
            case IBV_PORT_DOWN: self = .down
            case IBV_PORT_INIT: self = .initializing
            case IBV_PORT_ARMED: self = .armed
            case IBV_PORT_ACTIVE: self = .active
            case IBV_PORT_ACTIVE_DEFER: self = .activeDefer
            default: self = .unknown(raw.rawValue)
            }
        }

        /// As `ibv_devinfo` prints it: "PORT_ACTIVE" → "ACTIVE".
        public var description: String {
            switch self {
            case .nop: "NOP"
            case .down: "DOWN"
            case .initializing: "INIT"
            case .armed: "ARMED"
            case .active: "ACTIVE"
            case .activeDefer: "ACTIVE_DEFER"
            case .unknown(let raw): "UNKNOWN(\(raw))"
            }
        }

        /// What the state means for whoever wants to send, in words.
        public var explanation: String {
            switch self {
            case .active, .activeDefer: "ACTIVE: the port can carry traffic"
            case .down: "DOWN: the link is down (for RoCE/rxe: is the netdev up? `ip link set <if> up`)"
            case .initializing: "INIT: the link is up but not configured (InfiniBand: no subnet manager yet?)"
            case .armed: "ARMED: the link is up but not yet active"
            case .nop: "NOP: no state reported"
            case .unknown(let raw): "unknown port state \(raw)"
            }
        }

        public var isActive: Bool { self == .active || self == .activeDefer }
    }

    /// The port's link layer: RoCE devices (rxe included) are Ethernet; unspecified means InfiniBand.
    public enum LinkLayer: Sendable, Equatable, CustomStringConvertible {
        case infiniBand, ethernet

        public var description: String {
            switch self {
            case .infiniBand: "InfiniBand"
            case .ethernet: "Ethernet"
            }
        }
    }

    public var state: State
    /// The largest MTU the port supports, in bytes (256…4096).
    public var maxMTU: Int
    /// The MTU in use, in bytes (256…4096); RoCE picks the largest that fits the netdev's MTU.
    public var activeMTU: Int
    public var linkLayer: LinkLayer
    public var gidTableLength: Int
    /// The port's LID (InfiniBand only; 0 on RoCE).
    public var lid: UInt16

    public init(state: State, maxMTU: Int, activeMTU: Int, linkLayer: LinkLayer, gidTableLength: Int, lid: UInt16 = 0) {
        self.state = state
        self.maxMTU = maxMTU
        self.activeMTU = activeMTU
        self.linkLayer = linkLayer
        self.gidTableLength = gidTableLength
        self.lid = lid
    }

    init(_ attr: ibv_port_attr) {
        self.init(state: State(attr.state), maxMTU: Self.bytes(attr.max_mtu), activeMTU: Self.bytes(attr.active_mtu),
                  linkLayer: attr.link_layer == UInt8(IBV_LINK_LAYER_ETHERNET) ? .ethernet : .infiniBand,
                  gidTableLength: Int(attr.gid_tbl_len), lid: attr.lid)
    }

    /// `IBV_MTU_256` … `IBV_MTU_4096` in bytes (0 for anything else).
    static func bytes(_ mtu: ibv_mtu) -> Int {
        (1...5).contains(mtu.rawValue) ? 128 << Int(mtu.rawValue) : 0
    }

    /// The `enum ibv_mtu` for a size in bytes: the largest IB MTU not above it (at least 256).
    static func mtu(bytes: Int) -> ibv_mtu {
        switch bytes {
        case 4096...: IBV_MTU_4096
        case 2048...: IBV_MTU_2048
        case 1024...: IBV_MTU_1024
        case 512...: IBV_MTU_512
        default: IBV_MTU_256
        }
    }
}
