#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// An IP address and port for rdma_cm (`struct sockaddr_in` / `sockaddr_in6`): what `bind`,
/// `resolveAddress` and the id's local and peer addresses speak. On RoCE the IP address also chooses
/// the device: the one whose netdev carries it.
public struct CMAddress: Sendable, Equatable, Hashable, CustomStringConvertible {
    /// The raw socket address, padded to `sockaddr_storage`'s size.
    private var storage: [UInt8]

    /// `host` is a numeric IPv4 or IPv6 address ("10.99.0.1", "fe80::1", "0.0.0.0"); nil if not one.
    public init?(host: String, port: UInt16) {
        var v4 = in_addr()
        var v6 = in6_addr()
        if inet_pton(AF_INET, host, &v4) == 1 {
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_port = port.bigEndian
            address.sin_addr = v4
            storage = Self.padded(address)
        } else if inet_pton(AF_INET6, host, &v6) == 1 {
            var address = sockaddr_in6()
            address.sin6_family = sa_family_t(AF_INET6)
            address.sin6_port = port.bigEndian
            address.sin6_addr = v6
            storage = Self.padded(address)
        } else {
            return nil
        }
    }

    /// Copies a `sockaddr_in` or `sockaddr_in6`; nil for other families or a null pointer.
    init?(_ address: UnsafePointer<sockaddr>?) {
        guard let address else { return nil }
        switch Int32(address.pointee.sa_family) {
        case AF_INET:
            storage = Self.padded(UnsafeRawPointer(address).loadUnaligned(as: sockaddr_in.self))
        case AF_INET6:
            storage = Self.padded(UnsafeRawPointer(address).loadUnaligned(as: sockaddr_in6.self))
        default:
            return nil
        }
    }

    private static func padded<T>(_ value: T) -> [UInt8] {
        var bytes = withUnsafeBytes(of: value) { Array($0) }
        bytes += [UInt8](repeating: 0, count: MemoryLayout<sockaddr_storage>.size - bytes.count)
        return bytes
    }

    private var family: Int32 {
        storage.withUnsafeBytes { Int32($0.loadUnaligned(as: sockaddr.self).sa_family) }
    }

    /// Whether this is an IPv4 address.
    public var isIPv4: Bool { family == AF_INET }

    public var port: UInt16 {
        storage.withUnsafeBytes { bytes in
            isIPv4 ? UInt16(bigEndian: bytes.loadUnaligned(as: sockaddr_in.self).sin_port)
                : UInt16(bigEndian: bytes.loadUnaligned(as: sockaddr_in6.self).sin6_port)
        }
    }

    /// The numeric host part ("10.99.0.1", "fe80::1").
    public var host: String {
        var text = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN) + 1)
        storage.withUnsafeBytes { bytes in
            if isIPv4 {
                var address = bytes.loadUnaligned(as: sockaddr_in.self).sin_addr
                _ = inet_ntop(AF_INET, &address, &text, socklen_t(text.count))
            } else {
                var address = bytes.loadUnaligned(as: sockaddr_in6.self).sin6_addr
                _ = inet_ntop(AF_INET6, &address, &text, socklen_t(text.count))
            }
        }
        return String(nulTerminated: text)
    }

    /// "10.99.0.1:7471", "[fe80::1]:7471".
    public var description: String { isIPv4 ? "\(host):\(port)" : "[\(host)]:\(port)" }

    /// Calls `body` with a `struct sockaddr *` the C call may read (and, for rdma_cm's prototypes, is
    /// typed mutable but never written).
    func withSockaddr<R>(_ body: (UnsafeMutablePointer<sockaddr>) -> R) -> R {
        var copy = storage
        return copy.withUnsafeMutableBytes { body($0.baseAddress!.assumingMemoryBound(to: sockaddr.self)) }
    }
}
