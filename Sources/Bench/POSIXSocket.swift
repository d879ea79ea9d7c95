#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Thin, throwing wrappers over the blocking BSD socket calls the raw throughput probe needs.
///
/// The probe is the baseline the emulator's own TCP transport is compared against, so it must involve nothing but
/// the kernel: no event loop, no framing, no copies beyond the one `send`/`read` does. Each wrapper throws
/// `SocketError.call` naming the C call, and retries `EINTR` so a signal during a long transfer is not an error.
/// Kept apart from `SocketThroughput` so that its `send(toPort:bytes:)` does not shadow the C `send`, and named
/// unlike the C calls they wrap for the same reason.
enum POSIXSocket {
    /// A blocking IPv4 TCP socket (close-on-exec where available, so a CLI child never leaks it to grandchildren).
    static func makeTCP() throws -> Int32 {
        #if canImport(Glibc) || canImport(Musl)
        let type = Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue)
        #else
        let type = SOCK_STREAM
        #endif
        let descriptor = socket(AF_INET, type, 0)
        guard descriptor >= 0 else { throw SocketError.call("socket", errno: errno) }
        #if canImport(Darwin)
        // Darwin has no MSG_NOSIGNAL; without this a vanished peer would kill the process with SIGPIPE.
        try setOption(descriptor, SOL_SOCKET, SO_NOSIGPIPE, 1, name: "setsockopt(SO_NOSIGPIPE)")
        #endif
        return descriptor
    }

    /// `setsockopt` with an `Int32` value.
    static func setOption(_ descriptor: Int32, _ level: Int32, _ option: Int32, _ value: Int32, name: String) throws {
        var value = value
        let result = setsockopt(descriptor, level, option, &value, socklen_t(MemoryLayout<Int32>.size))
        guard result == 0 else { throw SocketError.call(name, errno: errno) }
    }

    /// `127.0.0.1:port`.
    static func loopback(port: Int) -> sockaddr_in {
        var address = sockaddr_in()
        #if canImport(Darwin)
        address.sin_len = UInt8(MemoryLayout<sockaddr_in>.size)
        #endif
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port)).bigEndian
        address.sin_addr = in_addr(s_addr: UInt32(0x7F00_0001).bigEndian)
        return address
    }

    static func bindLoopback(_ descriptor: Int32, port: Int) throws {
        var address = loopback(port: port)
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard result == 0 else { throw SocketError.call("bind", errno: errno) }
    }

    static func connectLoopback(_ descriptor: Int32, port: Int) throws {
        var address = loopback(port: port)
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard result == 0 else { throw SocketError.call("connect", errno: errno) }
    }

    static func startListening(_ descriptor: Int32, backlog: Int32) throws {
        guard listen(descriptor, backlog) == 0 else { throw SocketError.call("listen", errno: errno) }
    }

    /// The port the kernel bound `descriptor` to (the answer to binding port 0).
    static func localPort(_ descriptor: Int32) throws -> Int {
        var address = sockaddr_in()
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let result = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(descriptor, $0, &length) }
        }
        guard result == 0 else { throw SocketError.call("getsockname", errno: errno) }
        return Int(UInt16(bigEndian: address.sin_port))
    }

    static func acceptOne(_ descriptor: Int32) throws -> Int32 {
        while true {
            let connection = accept(descriptor, nil, nil)
            if connection >= 0 { return connection }
            if errno != EINTR { throw SocketError.call("accept", errno: errno) }
        }
    }

    /// Sends all `count` bytes, looping over partial sends.
    static func sendAll(_ descriptor: Int32, _ bytes: UnsafeRawPointer, count: Int) throws {
        #if canImport(Glibc) || canImport(Musl)
        let flags = Int32(MSG_NOSIGNAL)  // a vanished peer is an error to report, not a SIGPIPE to die of
        #else
        let flags: Int32 = 0
        #endif
        var offset = 0
        while offset < count {
            let sent = send(descriptor, bytes + offset, count - offset, flags)
            if sent > 0 {
                offset += sent
            } else if sent < 0 && errno == EINTR {
                continue
            } else {
                throw SocketError.call("send", errno: sent < 0 ? errno : EPIPE)
            }
        }
    }

    /// One `read` of up to `count` bytes: the number read, 0 at end of stream.
    static func readSome(_ descriptor: Int32, _ bytes: UnsafeMutableRawPointer, count: Int) throws -> Int {
        while true {
            let received = read(descriptor, bytes, count)
            if received >= 0 { return received }
            if errno != EINTR { throw SocketError.call("read", errno: errno) }
        }
    }

    /// Reads until `count` bytes or end of stream; returns how many were read.
    static func readFully(_ descriptor: Int32, _ bytes: UnsafeMutableRawPointer, count: Int) throws -> Int {
        var offset = 0
        while offset < count {
            let received = try readSome(descriptor, bytes + offset, count: count - offset)
            if received == 0 { break }
            offset += received
        }
        return offset
    }

    static func shutdownWrite(_ descriptor: Int32) throws {
        #if canImport(Glibc) || canImport(Musl)
        let how = Int32(SHUT_WR)
        #else
        let how = SHUT_WR
        #endif
        guard shutdown(descriptor, how) == 0 else { throw SocketError.call("shutdown", errno: errno) }
    }

    static func closeSocket(_ descriptor: Int32) {
        _ = close(descriptor)
    }
}
