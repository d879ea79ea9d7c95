import CVerbs

/// One finished work request, copied out of `struct ibv_wc`: which request (`wrID`), whether it
/// worked (`status`), what it was (`opcode`), how many bytes arrived and the immediate data, if any.
public struct WorkCompletion: Sendable, Equatable {
    /// `enum ibv_wc_status`, described by `ibv_wc_status_str`.
    public struct Status: Sendable, Equatable, Hashable, CustomStringConvertible {
        public let rawValue: UInt32
        public init(rawValue: UInt32) { self.rawValue = rawValue }

        public static let success = Status(rawValue: IBV_WC_SUCCESS.rawValue)
        public static let localLengthError = Status(rawValue: IBV_WC_LOC_LEN_ERR.rawValue)
        public static let localProtectionError = Status(rawValue: IBV_WC_LOC_PROT_ERR.rawValue)
        /// Outstanding requests flushed when the QP went to the error state (e.g. on teardown).
        public static let flushed = Status(rawValue: IBV_WC_WR_FLUSH_ERR.rawValue)
        public static let remoteAccessError = Status(rawValue: IBV_WC_REM_ACCESS_ERR.rawValue)
        public static let retryExceeded = Status(rawValue: IBV_WC_RETRY_EXC_ERR.rawValue)
        public static let receiverNotReadyRetryExceeded = Status(rawValue: IBV_WC_RNR_RETRY_EXC_ERR.rawValue)

        public var isSuccess: Bool { self == .success }

        /// `ibv_wc_status_str`: "success", "transport retry counter exceeded", …
        public var description: String {
            ibv_wc_status_str(ibv_wc_status(rawValue: rawValue)).map { String(cString: $0) } ?? "status \(rawValue)"
        }
    }

    /// `enum ibv_wc_opcode`. Only meaningful when `status` is success.
    public enum Opcode: Sendable, Equatable, CustomStringConvertible {
        case send, rdmaWrite, rdmaRead, compareSwap, fetchAdd, bindMW, localInvalidate
        case receive, receiveRDMAWithImmediate
        case other(UInt32)

        init(_ raw: ibv_wc_opcode) {
            switch raw {
            case IBV_WC_SEND: self = .send
            case IBV_WC_RDMA_WRITE: self = .rdmaWrite
            case IBV_WC_RDMA_READ: self = .rdmaRead
            case IBV_WC_COMP_SWAP: self = .compareSwap
            case IBV_WC_FETCH_ADD: self = .fetchAdd
            case IBV_WC_BIND_MW: self = .bindMW
            case IBV_WC_LOCAL_INV: self = .localInvalidate
            case IBV_WC_RECV: self = .receive
            case IBV_WC_RECV_RDMA_WITH_IMM: self = .receiveRDMAWithImmediate
            default: self = .other(raw.rawValue)
            }
        }

        public var description: String {
            switch self {
            case .send: "SEND"
            case .rdmaWrite: "RDMA_WRITE"
            case .rdmaRead: "RDMA_READ"
            case .compareSwap: "COMP_SWAP"
            case .fetchAdd: "FETCH_ADD"
            case .bindMW: "BIND_MW"
            case .localInvalidate: "LOCAL_INV"
            case .receive: "RECV"
            case .receiveRDMAWithImmediate: "RECV_RDMA_WITH_IMM"
            case .other(let raw): "opcode \(raw)"
            }
        }
    }

    public var wrID: UInt64
    public var status: Status
    public var opcode: Opcode
    /// Bytes received (receive completions only).
    public var byteLength: Int
    /// The sender's immediate data, in host byte order, when the request carried one.
    public var immData: UInt32?
    /// The local QP the request belonged to.
    public var qpNumber: UInt32
    /// The provider's own error detail, for a status other than success.
    public var vendorError: UInt32

    public init(wrID: UInt64, status: Status, opcode: Opcode, byteLength: Int = 0, immData: UInt32? = nil,
                qpNumber: UInt32 = 0, vendorError: UInt32 = 0) {
        self.wrID = wrID
        self.status = status
        self.opcode = opcode
        self.byteLength = byteLength
        self.immData = immData
        self.qpNumber = qpNumber
        self.vendorError = vendorError
    }

    init(_ wc: ibv_wc) {
        let hasImmediate = wc.wc_flags & IBV_WC_WITH_IMM.rawValue != 0
        self.init(wrID: wc.wr_id, status: Status(rawValue: wc.status.rawValue), opcode: Opcode(wc.opcode),
                  byteLength: Int(wc.byte_len), immData: hasImmediate ? UInt32(bigEndian: wc.imm_data) : nil,
                  qpNumber: wc.qp_num, vendorError: wc.vendor_err)
    }

    /// This completion, or `VerbsError.workCompletion` naming the status, request and `peer` (who was
    /// on the other end, for the log) when it failed.
    @discardableResult
    public func checked(peer: String) throws(VerbsError) -> WorkCompletion {
        guard status.isSuccess else {
            throw .workCompletion(status: status.description, wrID: wrID, opcode: opcode.description, peer: peer)
        }
        return self
    }
}
