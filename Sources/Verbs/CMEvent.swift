import CVerbs

/// One rdma_cm event (`struct rdma_cm_event`), copied out before it is acknowledged: what happened,
/// with its status and the peer's private data where the event carries them.
///
/// `status` is a negative errno for the *_ERROR and UNREACHABLE events, and the IB CM reject reason
/// for REJECTED (28 when the peer's application rejected). Private data may come back padded with
/// zeros by the CM (to 56 bytes on a connect request over RoCE/IB): put its length in the data.
public enum CMEvent: Sendable, CustomStringConvertible {
    case addressResolved
    case addressError(status: Int32)
    case routeResolved
    case routeError(status: Int32)
    /// A peer wants to connect to a listening id; the new id is ours to `accept` (or drop, which rejects).
    case connectRequest(CMID, privateData: [UInt8])
    case connectResponse(privateData: [UInt8])
    case connectError(status: Int32)
    case unreachable(status: Int32)
    case rejected(status: Int32, privateData: [UInt8])
    /// The connection is up; on the active side `privateData` is what the peer passed to `accept`.
    case established(privateData: [UInt8])
    case disconnected
    case deviceRemoval
    case multicastJoin
    case multicastError(status: Int32)
    case addressChange
    case timewaitExit
    case other(type: UInt32, status: Int32)

    /// The event's type alone, for waiting on one (`EventChannel.expect`).
    public enum Kind: Sendable, Equatable, Hashable, CustomStringConvertible {
        case addressResolved, addressError, routeResolved, routeError, connectRequest, connectResponse
        case connectError, unreachable, rejected, established, disconnected, deviceRemoval
        case multicastJoin, multicastError, addressChange, timewaitExit, other

        /// As librdmacm's `rdma_event_str` spells it, without the `RDMA_CM_EVENT_` prefix.
        public var description: String {
            switch self {
            case .addressResolved: "ADDR_RESOLVED"
            case .addressError: "ADDR_ERROR"
            case .routeResolved: "ROUTE_RESOLVED"
            case .routeError: "ROUTE_ERROR"
            case .connectRequest: "CONNECT_REQUEST"
            case .connectResponse: "CONNECT_RESPONSE"
            case .connectError: "CONNECT_ERROR"
            case .unreachable: "UNREACHABLE"
            case .rejected: "REJECTED"
            case .established: "ESTABLISHED"
            case .disconnected: "DISCONNECTED"
            case .deviceRemoval: "DEVICE_REMOVAL"
            case .multicastJoin: "MULTICAST_JOIN"
            case .multicastError: "MULTICAST_ERROR"
            case .addressChange: "ADDR_CHANGE"
            case .timewaitExit: "TIMEWAIT_EXIT"
            case .other: "OTHER"
            }
        }
    }

    public var kind: Kind {
        switch self {
        case .addressResolved: .addressResolved
        case .addressError: .addressError
        case .routeResolved: .routeResolved
        case .routeError: .routeError
        case .connectRequest: .connectRequest
        case .connectResponse: .connectResponse
        case .connectError: .connectError
        case .unreachable: .unreachable
        case .rejected: .rejected
        case .established: .established
        case .disconnected: .disconnected
        case .deviceRemoval: .deviceRemoval
        case .multicastJoin: .multicastJoin
        case .multicastError: .multicastError
        case .addressChange: .addressChange
        case .timewaitExit: .timewaitExit
        case .other: .other
        }
    }

    /// The event's status (0 for the events that carry none).
    public var status: Int32 {
        switch self {
        case .addressError(let status), .routeError(let status), .connectError(let status),
             .unreachable(let status), .rejected(let status, _), .multicastError(let status),
             .other(_, let status):
            status
        default:
            0
        }
    }

    public var description: String {
        switch self {
        case .other(let type, _): "event \(type)"
        default: kind.description
        }
    }

    /// The private data `event` carries, copied (it is freed when the event is acknowledged).
    static func privateData(of event: rdma_cm_event) -> [UInt8] {
        let conn = event.param.conn
        guard let data = conn.private_data, conn.private_data_len > 0 else { return [] }
        return Array(UnsafeRawBufferPointer(start: data, count: Int(conn.private_data_len)))
    }

    /// Reads an acknowledged event's copy (its pointers other than the ids are no longer valid, so the
    /// private data comes separately); `adopt` wraps the new id of a connect request.
    init(_ event: rdma_cm_event, privateData: [UInt8], adopt: (UnsafeMutablePointer<rdma_cm_id>) -> CMID) {
        let status = event.status
        switch event.event {
        case RDMA_CM_EVENT_ADDR_RESOLVED: self = .addressResolved
        case RDMA_CM_EVENT_ADDR_ERROR: self = .addressError(status: status)
        case RDMA_CM_EVENT_ROUTE_RESOLVED: self = .routeResolved
        case RDMA_CM_EVENT_ROUTE_ERROR: self = .routeError(status: status)
        case RDMA_CM_EVENT_CONNECT_REQUEST: self = .connectRequest(adopt(event.id), privateData: privateData)
        case RDMA_CM_EVENT_CONNECT_RESPONSE: self = .connectResponse(privateData: privateData)
        case RDMA_CM_EVENT_CONNECT_ERROR: self = .connectError(status: status)
        case RDMA_CM_EVENT_UNREACHABLE: self = .unreachable(status: status)
        case RDMA_CM_EVENT_REJECTED: self = .rejected(status: status, privateData: privateData)
        case RDMA_CM_EVENT_ESTABLISHED: self = .established(privateData: privateData)
        case RDMA_CM_EVENT_DISCONNECTED: self = .disconnected
        case RDMA_CM_EVENT_DEVICE_REMOVAL: self = .deviceRemoval
        case RDMA_CM_EVENT_MULTICAST_JOIN: self = .multicastJoin
        case RDMA_CM_EVENT_MULTICAST_ERROR: self = .multicastError(status: status)
        case RDMA_CM_EVENT_ADDR_CHANGE: self = .addressChange
        case RDMA_CM_EVENT_TIMEWAIT_EXIT: self = .timewaitExit
        default: self = .other(type: event.event.rawValue, status: status)
        }
    }
}
