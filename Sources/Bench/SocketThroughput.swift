#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Raw loopback TCP throughput between two endpoints: the ceiling for any transport over sockets on this machine.
///
/// The emulator's data plane is TCP over loopback, so its bandwidth can never beat what the kernel moves between
/// two processes with plain blocking sockets. This probe measures that with as little overhead as possible —
/// blocking calls, 4 MiB socket buffers, 1 MiB writes, no framing — so the gap between it and the bench's figures
/// is the cost of the emulator itself. The sink runs in a separate process in the CLI (two processes, like the
/// real fabric, so the two ends compete for the cores as they would there); the tests run it on a thread.
///
/// The result is only accepted when the sink acknowledges exactly the number of bytes sent, so a figure can never
/// come from a truncated stream.
public enum SocketThroughput {
    /// SO_SNDBUF/SO_RCVBUF: large enough that a 1 MiB write rarely blocks on a full buffer. Linux may cap it at
    /// `net.core.wmem_max`/`rmem_max` (and doubles what it grants); the probe works with whatever it gets.
    static let socketBufferBytes: Int32 = 4 << 20
    /// Size of each write and of the sink's read buffer: big enough that per-call overhead is negligible.
    static let writeBytes = 1 << 20

    /// Receiver side, run in a separate process: binds 127.0.0.1:port (0 = any), calls `ready(port)` once
    /// listening, accepts ONE connection, reads until EOF, writes back an 8-byte LE count of bytes received,
    /// returns. Throws on socket errors with the failing call named.
    ///
    /// `ready` receives the port actually bound, so a parent can start the sink on port 0 and learn the port from
    /// the child (no racing for a free port). Blocks in `accept` until a sender connects.
    public static func serveSink(port: Int, ready: (Int) -> Void) throws {
        guard (0...65_535).contains(port) else { throw SocketError.invalidPort(port) }
        let listener = try POSIXSocket.makeTCP()
        defer { POSIXSocket.closeSocket(listener) }
        try POSIXSocket.setOption(listener, SOL_SOCKET, SO_REUSEADDR, 1, name: "setsockopt(SO_REUSEADDR)")
        // Set on the listener so the accepted socket inherits it, before listen so the TCP window scale offered
        // in the handshake accounts for it.
        try POSIXSocket.setOption(listener, SOL_SOCKET, SO_RCVBUF, socketBufferBytes, name: "setsockopt(SO_RCVBUF)")
        try POSIXSocket.setOption(listener, SOL_SOCKET, SO_SNDBUF, socketBufferBytes, name: "setsockopt(SO_SNDBUF)")
        try POSIXSocket.bindLoopback(listener, port: port)
        try POSIXSocket.startListening(listener, backlog: 1)
        ready(try POSIXSocket.localPort(listener))

        let connection = try POSIXSocket.acceptOne(listener)
        defer { POSIXSocket.closeSocket(connection) }
        let buffer = UnsafeMutableRawPointer.allocate(byteCount: writeBytes, alignment: 64)
        defer { buffer.deallocate() }
        var received: UInt64 = 0
        while true {
            let count = try POSIXSocket.readSome(connection, buffer, count: writeBytes)
            if count == 0 { break }
            received += UInt64(count)
        }
        var acknowledgement = received.littleEndian
        try withUnsafeBytes(of: &acknowledgement) { raw in
            try POSIXSocket.sendAll(connection, raw.baseAddress!, count: raw.count)
        }
    }

    /// Sender side: connects, streams `bytes` in 1 MiB writes, shuts down write side, waits for the 8-byte ack,
    /// returns bytes/second measured from first write to ack. Throws typed errors naming the C call (socket,
    /// connect, write, ...).
    ///
    /// Timing until the acknowledgement (not until the last write returns) counts the data still in flight in the
    /// socket buffers — up to several MiB, which would otherwise inflate small transfers. Throws
    /// `SocketError.countMismatch` if the sink acknowledges a different count. Send at least tens of MiB for a
    /// meaningful figure: connection setup is excluded, but the final round trip is not.
    public static func send(toPort port: Int, bytes: Int) throws -> Double {
        let (seconds, acknowledged) = try transfer(toPort: port, bytes: bytes)
        guard acknowledged == UInt64(bytes) else {
            throw SocketError.countMismatch(sent: bytes, acknowledged: acknowledged)
        }
        return Double(bytes) / max(seconds, 1e-9)
    }

    /// The measurement behind `send`: seconds from the first write to the acknowledgement, and the count the sink
    /// acknowledged (unchecked, so the tests can compare it with what was sent).
    static func transfer(toPort port: Int, bytes: Int) throws -> (seconds: Double, acknowledged: UInt64) {
        precondition(bytes >= 0, "negative byte count \(bytes)")
        guard (1...65_535).contains(port) else { throw SocketError.invalidPort(port) }
        let descriptor = try POSIXSocket.makeTCP()
        defer { POSIXSocket.closeSocket(descriptor) }
        try POSIXSocket.setOption(descriptor, SOL_SOCKET, SO_SNDBUF, socketBufferBytes, name: "setsockopt(SO_SNDBUF)")
        try POSIXSocket.setOption(descriptor, SOL_SOCKET, SO_RCVBUF, socketBufferBytes, name: "setsockopt(SO_RCVBUF)")
        try POSIXSocket.connectLoopback(descriptor, port: port)

        let chunk = UnsafeMutableRawPointer.allocate(byteCount: writeBytes, alignment: 64)
        defer { chunk.deallocate() }
        // Non-zero, varied content and every page touched, so the timed loop measures sending, not page faults.
        for index in 0..<writeBytes {
            chunk.storeBytes(of: UInt8(truncatingIfNeeded: index &* 131 &+ 7), toByteOffset: index, as: UInt8.self)
        }

        var acknowledgement: UInt64 = 0
        var acknowledgedBytes = 0
        let seconds = try Stopwatch.seconds {
            var remaining = bytes
            while remaining > 0 {
                let count = min(remaining, writeBytes)
                try POSIXSocket.sendAll(descriptor, chunk, count: count)
                remaining -= count
            }
            try POSIXSocket.shutdownWrite(descriptor)
            acknowledgedBytes = try withUnsafeMutableBytes(of: &acknowledgement) { raw in
                try POSIXSocket.readFully(descriptor, raw.baseAddress!, count: raw.count)
            }
        }
        guard acknowledgedBytes == MemoryLayout<UInt64>.size else {
            throw SocketError.closedBeforeAck(received: acknowledgedBytes)
        }
        return (seconds, UInt64(littleEndian: acknowledgement))
    }
}
