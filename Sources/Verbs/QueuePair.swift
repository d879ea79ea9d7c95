#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import CVerbs

/// A reliable-connected queue pair (`ibv_create_qp` or `rdma_create_qp`, type RC): the send and
/// receive queues of one connection, posting work requests on registered memory and reporting them
/// to its completion queues.
///
/// Connected either by rdma_cm (`CMID.createQP`, then `connect`/`accept` move it through INIT, RTR and
/// RTS) or by hand as rc_pingpong does (`moveToInit`, then `moveToRTR` with the peer's QP number, PSN
/// and GID exchanged out of band, then `moveToRTS`). Holds its protection domain, its completion
/// queues and (for rdma_cm) its CM id, so all of them outlive it. `@unchecked Sendable`: immutable
/// here, and libibverbs calls are thread-safe; posting from two tasks at once is allowed by verbs but
/// their requests interleave.
public final class QueuePair: @unchecked Sendable {
    /// `enum ibv_qp_state`.
    public enum State: Sendable, Equatable, CustomStringConvertible {
        case reset, initialized, readyToReceive, readyToSend, sendQueueDrained, sendQueueError, error, unknown

        init(_ raw: ibv_qp_state) {
            switch raw {
            case IBV_QPS_RESET: self = .reset
            case IBV_QPS_INIT: self = .initialized
            case IBV_QPS_RTR: self = .readyToReceive
            case IBV_QPS_RTS: self = .readyToSend
            case IBV_QPS_SQD: self = .sendQueueDrained
            case IBV_QPS_SQE: self = .sendQueueError
            case IBV_QPS_ERR: self = .error
            default: self = .unknown
            }
        }

        /// The verbs spelling: RESET, INIT, RTR, RTS, SQD, SQE, ERR.
        public var description: String {
            switch self {
            case .reset: "RESET"
            case .initialized: "INIT"
            case .readyToReceive: "RTR"
            case .readyToSend: "RTS"
            case .sendQueueDrained: "SQD"
            case .sendQueueError: "SQE"
            case .error: "ERR"
            case .unknown: "UNKNOWN"
            }
        }
    }

    /// Queue depths and scatter/gather sizes (`struct ibv_qp_cap`). After creation, `capabilities`
    /// holds what the device actually granted (at least what was asked).
    public struct Capabilities: Sendable, Equatable {
        public var maxSendWR: Int
        public var maxRecvWR: Int
        public var maxSendSGE: Int
        public var maxRecvSGE: Int
        /// Bytes a send may carry inline (copied into the WQE; no lkey needed).
        public var maxInlineData: Int

        public init(maxSendWR: Int = 128, maxRecvWR: Int = 128, maxSendSGE: Int = 1, maxRecvSGE: Int = 1,
                    maxInlineData: Int = 0) {
            self.maxSendWR = maxSendWR
            self.maxRecvWR = maxRecvWR
            self.maxSendSGE = maxSendSGE
            self.maxRecvSGE = maxRecvSGE
            self.maxInlineData = maxInlineData
        }

        init(_ cap: ibv_qp_cap) {
            self.init(maxSendWR: Int(cap.max_send_wr), maxRecvWR: Int(cap.max_recv_wr),
                      maxSendSGE: Int(cap.max_send_sge), maxRecvSGE: Int(cap.max_recv_sge),
                      maxInlineData: Int(cap.max_inline_data))
        }

        var raw: ibv_qp_cap {
            ibv_qp_cap(max_send_wr: UInt32(maxSendWR), max_recv_wr: UInt32(maxRecvWR),
                       max_send_sge: UInt32(maxSendSGE), max_recv_sge: UInt32(maxRecvSGE),
                       max_inline_data: UInt32(maxInlineData))
        }
    }

    /// What one side of a hand-connected QP tells the other (rc_pingpong's "address"): QP number,
    /// first packet sequence number, GID (RoCE) and LID (InfiniBand).
    public struct Endpoint: Sendable, Equatable {
        public var qpNumber: UInt32
        public var packetSequenceNumber: UInt32
        public var gid: GID
        public var lid: UInt16

        public init(qpNumber: UInt32, packetSequenceNumber: UInt32, gid: GID, lid: UInt16 = 0) {
            self.qpNumber = qpNumber
            self.packetSequenceNumber = packetSequenceNumber & 0xFF_FFFF
            self.gid = gid
            self.lid = lid
        }
    }

    /// What a send work request does (`enum ibv_wr_opcode`, and its immediate and remote fields).
    public enum SendOperation: Sendable, Equatable {
        /// Lands in the next receive buffer the peer posted.
        case send
        /// As `send`, and the peer's receive completion carries `immediate`.
        case sendWithImmediate(UInt32)
        /// Writes straight into the peer's registered memory; the peer sees no completion.
        case rdmaWrite(RemoteBuffer)
        /// Writes into the peer's memory and consumes one of its posted receives, whose completion
        /// (`RECV_RDMA_WITH_IMM`) carries `immediate`: how a chunk announces that it has arrived.
        case rdmaWriteWithImmediate(UInt32, RemoteBuffer)
    }

    let raw: UnsafeMutablePointer<ibv_qp>
    public let protectionDomain: ProtectionDomain
    public let sendQueue: CompletionQueue
    public let receiveQueue: CompletionQueue
    /// What the device granted.
    public let capabilities: Capabilities
    /// Set when rdma_cm created the QP: it is destroyed with `rdma_destroy_qp`, before the id.
    private let cmID: CMID?

    /// An RC queue pair in RESET, for connecting by hand (`ibv_create_qp`).
    /// With `signalAll`, every send produces a completion whatever its `signaled` argument says.
    public init(protectionDomain: ProtectionDomain, sendQueue: CompletionQueue, receiveQueue: CompletionQueue,
                capabilities: Capabilities = Capabilities(), signalAll: Bool = false) throws(VerbsError) {
        var attributes = Self.initAttributes(sendQueue, receiveQueue, capabilities, signalAll)
        raw = try checkNonNull(ibv_create_qp(protectionDomain.raw, &attributes), VerbsError.createQP)
        self.protectionDomain = protectionDomain
        self.sendQueue = sendQueue
        self.receiveQueue = receiveQueue
        self.capabilities = Capabilities(attributes.cap)
        cmID = nil
    }

    /// An RC queue pair owned by an rdma_cm id (`rdma_create_qp`); rdma_cm moves it through the states.
    init(cmID: CMID, protectionDomain: ProtectionDomain, sendQueue: CompletionQueue, receiveQueue: CompletionQueue,
         capabilities: Capabilities, signalAll: Bool) throws(VerbsError) {
        var attributes = Self.initAttributes(sendQueue, receiveQueue, capabilities, signalAll)
        try checkNonNegative(VerbsError.createQP) { rdma_create_qp(cmID.raw, protectionDomain.raw, &attributes) }
        raw = try checkNonNull(cmID.raw.pointee.qp, VerbsError.createQP)
        self.protectionDomain = protectionDomain
        self.sendQueue = sendQueue
        self.receiveQueue = receiveQueue
        self.capabilities = Capabilities(attributes.cap)
        self.cmID = cmID
    }

    private static func initAttributes(_ sendQueue: CompletionQueue, _ receiveQueue: CompletionQueue,
                                       _ capabilities: Capabilities, _ signalAll: Bool) -> ibv_qp_init_attr {
        var attributes = ibv_qp_init_attr()
        attributes.send_cq = sendQueue.raw
        attributes.recv_cq = receiveQueue.raw
        attributes.cap = capabilities.raw
        attributes.qp_type = IBV_QPT_RC
        attributes.sq_sig_all = signalAll ? 1 : 0
        return attributes
    }

    deinit {
        if let cmID {
            rdma_destroy_qp(cmID.raw)
        } else {
            ibv_destroy_qp(raw)
        }
    }

    /// The QP number the peer addresses.
    public var qpNumber: UInt32 { raw.pointee.qp_num }

    /// The last state this QP was moved to through libibverbs (including by rdma_cm). A QP the device
    /// moved to ERR on its own still shows its old state here; its completions say what happened.
    public var state: State { State(raw.pointee.state) }

    // MARK: Connecting by hand (rc_pingpong's path)

    /// RESET → INIT: binds the QP to `port` and says what the peer may do to our memory.
    public func moveToInit(port: UInt8 = 1, access: MemoryRegion.Access = .all, pkeyIndex: UInt16 = 0)
        throws(VerbsError) {
        var attr = ibv_qp_attr()
        attr.qp_state = IBV_QPS_INIT
        attr.pkey_index = pkeyIndex
        attr.port_num = port
        attr.qp_access_flags = access.rawValue
        try modify(&attr, [IBV_QP_STATE, IBV_QP_PKEY_INDEX, IBV_QP_PORT, IBV_QP_ACCESS_FLAGS], to: "INIT")
    }

    /// INIT → RTR: points the QP at `remote`. On RoCE the path is global: our source GID is entry
    /// `gidIndex` of `port`'s table (the RoCE v2 IPv4 entry, see `RDMAReadiness`). `mtu` is in bytes
    /// and must not exceed either port's active MTU.
    public func moveToRTR(remote: Endpoint, port: UInt8 = 1, gidIndex: Int, mtu: Int = 1024,
                          minRNRTimer: UInt8 = 12, maxDestReadAtomic: UInt8 = 1, hopLimit: UInt8 = 64)
        throws(VerbsError) {
        var attr = ibv_qp_attr()
        attr.qp_state = IBV_QPS_RTR
        attr.path_mtu = PortAttributes.mtu(bytes: mtu)
        attr.dest_qp_num = remote.qpNumber
        attr.rq_psn = remote.packetSequenceNumber
        attr.max_dest_rd_atomic = maxDestReadAtomic
        attr.min_rnr_timer = minRNRTimer
        attr.ah_attr.dlid = remote.lid
        attr.ah_attr.sl = 0
        attr.ah_attr.src_path_bits = 0
        attr.ah_attr.port_num = port
        if !remote.gid.isZero {
            attr.ah_attr.is_global = 1
            attr.ah_attr.grh.dgid = remote.gid.raw
            attr.ah_attr.grh.sgid_index = UInt8(gidIndex)
            attr.ah_attr.grh.hop_limit = hopLimit
        }
        try modify(&attr, [IBV_QP_STATE, IBV_QP_AV, IBV_QP_PATH_MTU, IBV_QP_DEST_QPN, IBV_QP_RQ_PSN,
                           IBV_QP_MAX_DEST_RD_ATOMIC, IBV_QP_MIN_RNR_TIMER], to: "RTR")
    }

    /// RTR → RTS: the QP may send, starting at `packetSequenceNumber` (the PSN we told the peer).
    /// `timeout` is the ACK timeout exponent (4.096 µs × 2^timeout); retries of 7 mean "retry forever"
    /// for receiver-not-ready.
    public func moveToRTS(packetSequenceNumber: UInt32, timeout: UInt8 = 14, retryCount: UInt8 = 7,
                          rnrRetry: UInt8 = 7, maxReadAtomic: UInt8 = 1) throws(VerbsError) {
        var attr = ibv_qp_attr()
        attr.qp_state = IBV_QPS_RTS
        attr.timeout = timeout
        attr.retry_cnt = retryCount
        attr.rnr_retry = rnrRetry
        attr.sq_psn = packetSequenceNumber & 0xFF_FFFF
        attr.max_rd_atomic = maxReadAtomic
        try modify(&attr, [IBV_QP_STATE, IBV_QP_TIMEOUT, IBV_QP_RETRY_CNT, IBV_QP_RNR_RETRY, IBV_QP_SQ_PSN,
                           IBV_QP_MAX_QP_RD_ATOMIC], to: "RTS")
    }

    /// Any state → ERR: outstanding work requests complete with status "flushed", so their buffers can
    /// be reclaimed before teardown.
    public func moveToError() throws(VerbsError) {
        var attr = ibv_qp_attr()
        attr.qp_state = IBV_QPS_ERR
        try modify(&attr, [IBV_QP_STATE], to: "ERR")
    }

    private func modify(_ attr: inout ibv_qp_attr, _ mask: [ibv_qp_attr_mask], to state: String) throws(VerbsError) {
        let bits = mask.reduce(UInt32(0)) { $0 | $1.rawValue }
        try check(ibv_modify_qp(raw, &attr, Int32(bitPattern: bits))) { .modifyQP(state: state, errno: $0) }
    }

    // MARK: Posting

    /// Posts one send work request (`ibv_post_send`) gathering `segments`. `signaled` asks for a
    /// completion on the send queue (unsignaled sends still need a signaled one now and then, or the
    /// queue fills); `inline` copies the bytes into the request (at most `capabilities.maxInlineData`).
    /// The segments' memory must stay untouched until the request completes.
    public func postSend(wrID: UInt64, _ operation: SendOperation, segments: [MemoryRegion.Segment],
                         signaled: Bool = true, inline: Bool = false, solicited: Bool = false) throws(VerbsError) {
        let raw = self.raw
        let result = Self.withScatterGatherList(segments) { list, count in
            var wr = ibv_send_wr()
            wr.wr_id = wrID
            wr.next = nil
            wr.sg_list = list
            wr.num_sge = count
            var flags: UInt32 = 0
            if signaled { flags |= IBV_SEND_SIGNALED.rawValue }
            if inline { flags |= IBV_SEND_INLINE.rawValue }
            if solicited { flags |= IBV_SEND_SOLICITED.rawValue }
            wr.send_flags = flags
            switch operation {
            case .send:
                wr.opcode = IBV_WR_SEND
            case .sendWithImmediate(let immediate):
                wr.opcode = IBV_WR_SEND_WITH_IMM
                wr.imm_data = immediate.bigEndian
            case .rdmaWrite(let remote):
                wr.opcode = IBV_WR_RDMA_WRITE
                wr.wr.rdma.remote_addr = remote.address
                wr.wr.rdma.rkey = remote.rkey
            case .rdmaWriteWithImmediate(let immediate, let remote):
                wr.opcode = IBV_WR_RDMA_WRITE_WITH_IMM
                wr.imm_data = immediate.bigEndian
                wr.wr.rdma.remote_addr = remote.address
                wr.wr.rdma.rkey = remote.rkey
            }
            var bad: UnsafeMutablePointer<ibv_send_wr>?
            return ibv_post_send(raw, &wr, &bad)
        }
        try check(result) { .postSend(wrID: wrID, errno: $0) }
    }

    /// `postSend` with one segment.
    public func postSend(wrID: UInt64, _ operation: SendOperation, segment: MemoryRegion.Segment,
                         signaled: Bool = true, inline: Bool = false, solicited: Bool = false) throws(VerbsError) {
        try postSend(wrID: wrID, operation, segments: [segment], signaled: signaled, inline: inline,
                     solicited: solicited)
    }

    /// Posts one receive work request (`ibv_post_recv`) scattering into `segments`: the buffer the
    /// peer's next SEND lands in, or the receive an RDMA WRITE with immediate consumes (which may
    /// have no segments at all). Its completion comes on `receiveQueue`.
    public func postRecv(wrID: UInt64, segments: [MemoryRegion.Segment]) throws(VerbsError) {
        let raw = self.raw
        let result = Self.withScatterGatherList(segments) { list, count in
            var wr = ibv_recv_wr()
            wr.wr_id = wrID
            wr.next = nil
            wr.sg_list = list
            wr.num_sge = count
            var bad: UnsafeMutablePointer<ibv_recv_wr>?
            return ibv_post_recv(raw, &wr, &bad)
        }
        try check(result) { .postRecv(wrID: wrID, errno: $0) }
    }

    /// `postRecv` with one segment.
    public func postRecv(wrID: UInt64, segment: MemoryRegion.Segment) throws(VerbsError) {
        try postRecv(wrID: wrID, segments: [segment])
    }

    /// `segments` as a C scatter/gather list (nil when empty) and its length, for the duration of
    /// `body`: what both kinds of work request point at.
    private static func withScatterGatherList<R>(_ segments: [MemoryRegion.Segment],
                                                 _ body: (UnsafeMutablePointer<ibv_sge>?, Int32) -> R) -> R {
        withUnsafeTemporaryAllocation(of: ibv_sge.self, capacity: max(1, segments.count)) { sges in
            for (index, segment) in segments.enumerated() {
                sges[index] = segment.sge
            }
            return body(segments.isEmpty ? nil : sges.baseAddress, Int32(segments.count))
        }
    }
}
