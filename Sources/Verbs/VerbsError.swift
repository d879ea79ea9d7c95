#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Everything that can go wrong in a verbs or rdma_cm call, one case per C call.
///
/// Each case carries the `errno` the call reported (the three C error conventions are folded into
/// one number by the helpers in `Check.swift`) and, where it helps the reader of a log, what was being
/// done: the device name, the port, the QP state asked for, the work request id. A work completion
/// that arrives with an error status is an error too, named by `ibv_wc_status_str`, so a failed RDMA
/// WRITE reads like "transport retry counter exceeded", not like a number.
public enum VerbsError: Error, CustomStringConvertible, Equatable, Sendable {
    case getDeviceList(errno: Int32)
    case openDevice(name: String, errno: Int32)
    case queryDevice(errno: Int32)
    case queryPort(port: UInt8, errno: Int32)
    case queryGID(port: UInt8, index: Int, errno: Int32)
    case allocPD(errno: Int32)
    case regMR(bytes: Int, errno: Int32)
    case createCompChannel(errno: Int32)
    case createCQ(entries: Int, errno: Int32)
    case reqNotifyCQ(errno: Int32)
    case getCQEvent(errno: Int32)
    case createQP(errno: Int32)
    /// `state` is the state the QP was asked to move to ("INIT", "RTR", "RTS", "ERR").
    case modifyQP(state: String, errno: Int32)
    case postSend(wrID: UInt64, errno: Int32)
    case postRecv(wrID: UInt64, errno: Int32)
    case pollCQ(errno: Int32)
    case createEventChannel(errno: Int32)
    case createID(errno: Int32)
    case resolveAddr(destination: String, errno: Int32)
    case resolveRoute(errno: Int32)
    case connect(errno: Int32)
    case accept(errno: Int32)
    case listen(errno: Int32)
    case bind(address: String, errno: Int32)
    /// `rdma_get_cm_event` failed while waiting for `expected` ("any" when nothing particular was awaited).
    case getCMEvent(expected: String, errno: Int32)
    case ackCMEvent(errno: Int32)
    case disconnect(errno: Int32)
    /// A CM event arrived that is not the one the caller was waiting for (e.g. REJECTED instead of
    /// ESTABLISHED). `status` is the event's status: a negative errno for the *_ERROR and UNREACHABLE
    /// events, the IB CM reject reason for REJECTED.
    case unexpectedCMEvent(expected: String, got: String, status: Int32)
    /// A work completion with an error status; `status` is `ibv_wc_status_str`'s text.
    case workCompletion(status: String, wrID: UInt64, opcode: String, peer: String)
    /// No RDMA device could be used, and why (in words).
    case noDevice(String)

    /// The errno the failing call reported, if the case carries one.
    public var errorNumber: Int32? {
        switch self {
        case .getDeviceList(let code), .queryDevice(let code), .allocPD(let code),
             .createCompChannel(let code), .reqNotifyCQ(let code), .getCQEvent(let code), .createQP(let code),
             .pollCQ(let code), .createEventChannel(let code), .createID(let code), .resolveRoute(let code),
             .connect(let code), .accept(let code), .listen(let code), .ackCMEvent(let code),
             .disconnect(let code):
            return code
        case .openDevice(_, let code), .queryPort(_, let code), .queryGID(_, _, let code), .regMR(_, let code),
             .createCQ(_, let code), .modifyQP(_, let code), .postSend(_, let code), .postRecv(_, let code),
             .resolveAddr(_, let code), .bind(_, let code), .getCMEvent(_, let code):
            return code
        case .unexpectedCMEvent, .workCompletion, .noDevice:
            return nil
        }
    }

    /// The C function whose failure this is.
    public var function: String {
        switch self {
        case .getDeviceList: "ibv_get_device_list"
        case .openDevice: "ibv_open_device"
        case .queryDevice: "ibv_query_device"
        case .queryPort: "ibv_query_port"
        case .queryGID: "ibv_query_gid"
        case .allocPD: "ibv_alloc_pd"
        case .regMR: "ibv_reg_mr"
        case .createCompChannel: "ibv_create_comp_channel"
        case .createCQ: "ibv_create_cq"
        case .reqNotifyCQ: "ibv_req_notify_cq"
        case .getCQEvent: "ibv_get_cq_event"
        case .createQP: "ibv_create_qp"
        case .modifyQP: "ibv_modify_qp"
        case .postSend: "ibv_post_send"
        case .postRecv: "ibv_post_recv"
        case .pollCQ: "ibv_poll_cq"
        case .createEventChannel: "rdma_create_event_channel"
        case .createID: "rdma_create_id"
        case .resolveAddr: "rdma_resolve_addr"
        case .resolveRoute: "rdma_resolve_route"
        case .connect: "rdma_connect"
        case .accept: "rdma_accept"
        case .listen: "rdma_listen"
        case .bind: "rdma_bind_addr"
        case .getCMEvent, .unexpectedCMEvent: "rdma_get_cm_event"
        case .ackCMEvent: "rdma_ack_cm_event"
        case .disconnect: "rdma_disconnect"
        case .workCompletion: "ibv_poll_cq"
        case .noDevice: "ibv_get_device_list"
        }
    }

    public var description: String {
        switch self {
        case .openDevice(let name, _):
            return failed("opening RDMA device \(name)")
        case .queryPort(let port, _):
            return failed("querying port \(port)")
        case .queryGID(let port, let index, _):
            return failed("reading GID index \(index) of port \(port)")
        case .regMR(let bytes, _):
            return failed("registering \(bytes) bytes of memory")
                + (errorNumber == ENOMEM || errorNumber == EPERM
                    ? " (is RLIMIT_MEMLOCK too low? see `ulimit -l`)" : "")
        case .createCQ(let entries, _):
            return failed("creating a completion queue of \(entries) entries")
        case .modifyQP(let state, _):
            return failed("moving the queue pair to \(state)")
        case .postSend(let wrID, _):
            return failed("posting send work request \(wrID)")
        case .postRecv(let wrID, _):
            return failed("posting receive work request \(wrID)")
        case .resolveAddr(let destination, _):
            return failed("resolving the RDMA address of \(destination)")
        case .bind(let address, _):
            return failed("binding to \(address)")
        case .getCMEvent(let expected, _):
            return failed("waiting for CM event \(expected)")
        case .unexpectedCMEvent(let expected, let got, let status):
            let detail = status < 0 ? ": \(Self.errnoText(-status))" : status > 0 ? " (status \(status))" : ""
            return "rdma_cm: expected \(expected) but got \(got)\(detail)"
        case .workCompletion(let status, let wrID, let opcode, let peer):
            return "work request \(wrID) (\(opcode)) with \(peer) completed with error: \(status)"
        case .noDevice(let why):
            return "no usable RDMA device: \(why)"
        default:
            return failed(nil)
        }
    }

    private func failed(_ doing: String?) -> String {
        let code = errorNumber ?? 0
        let what = doing.map { " (\($0))" } ?? ""
        return "\(function) failed\(what): \(Self.errnoText(code))"
    }

    /// "Invalid argument (errno 22)".
    static func errnoText(_ code: Int32) -> String {
        guard let text = strerror(code) else { return "errno \(code)" }
        return "\(String(cString: text)) (errno \(code))"
    }
}
