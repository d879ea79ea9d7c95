#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Why a raw-socket measurement failed, naming the C call that failed so a bench run on an unfamiliar machine
/// (port exhausted, firewall, sandbox) says what to fix instead of just "socket error".
public enum SocketError: Error, CustomStringConvertible, Equatable {
    /// A C call returned an error; `errno` is its value right after the call.
    case call(String, errno: Int32)
    /// The peer closed the connection after sending only `received` of the 8 acknowledgement bytes.
    case closedBeforeAck(received: Int)
    /// The sink acknowledged a different byte count than was sent: the stream lost or invented data.
    case countMismatch(sent: Int, acknowledged: UInt64)
    /// The port is outside 0…65535 (or 0 where a real port is needed).
    case invalidPort(Int)

    public var description: String {
        switch self {
        case let .call(name, errno):
            return "\(name) failed: \(String(cString: strerror(errno))) (errno \(errno))"
        case let .closedBeforeAck(received):
            return "connection closed after \(received) of the 8 acknowledgement bytes"
        case let .countMismatch(sent, acknowledged):
            return "sent \(sent) bytes but the sink acknowledged \(acknowledged)"
        case let .invalidPort(port):
            return "invalid TCP port \(port)"
        }
    }
}
