import Foundation
import Testing
@testable import Fabric
import TributaryCore

/// `Configs/` at the repository root, found from this file's path so tests run from any directory.
let fabricConfigsDirectory = URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    .appendingPathComponent("Configs")

func loadConfig(_ name: String) throws -> Topology {
    try Topology.load(path: fabricConfigsDirectory.appendingPathComponent(name).path)
}

/// The node names a packet from `from` to `to` visits, following the plan's routes hop by hop.
func routedNodes(_ plan: FabricPlan, from: String, to: String) -> [String]? {
    guard let target = plan.node(to) else { return nil }
    var visited = [from]
    var current = from
    while current != to {
        guard visited.count <= plan.nodes.count,
              let route = plan.routes[current]?.first(where: { $0.destination == target.dataAddress + "/32" }),
              let link = plan.links.first(where: { link in
                  link.ends.contains { $0.node == current && $0.interface == route.interface }
              })
        else { return nil }
        current = link.a.node == current && link.a.interface == route.interface ? link.b.node : link.a.node
        visited.append(current)
    }
    return visited
}

/// What the machine offers the integration tests.
enum FabricTestEnvironment {
    static let isRoot = geteuid() == 0

    /// Root and an `ip` that knows `netns` (the only way to build the fabric).
    static let canBuildFabrics: Bool = {
        guard isRoot, FileManager.default.fileExists(atPath: "/proc/self/ns/net") else { return false }
        return (try? CommandRunner.run(["ip", "netns", "list"]))?.status == 0
    }()

    static let skipReason: Comment = "needs root and `ip netns` (run the tests as root to build namespaces)"

    /// The system python3 (the pyenv shim on PATH is a slow shell script), else the first on PATH.
    static let python: String? = {
        for candidate in ["/usr/bin/python3", "/usr/local/bin/python3"]
        where FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        let resolved = CommandRunner.resolve("python3")
        return FileManager.default.isExecutableFile(atPath: resolved) ? resolved : nil
    }()

    /// `ping` when installed (many minimal images lack it); the tests fall back to a python ICMP echo.
    static let ping: String? = {
        let resolved = CommandRunner.resolve("ping")
        return FileManager.default.isExecutableFile(atPath: resolved) ? resolved : nil
    }()

    /// A fabric name no other test (or user fabric) has.
    static func uniqueName(_ tag: String) -> String {
        "t\(tag)\(getpid() % 100_000)x\(UInt16.random(in: 0...UInt16.max))"
    }
}

/// One ICMP echo from a raw socket: `ping -c1 -W1` for machines without ping. Exit 0 on a reply.
let pythonICMPEcho = """
import os, socket, struct, sys, time
dst = sys.argv[1]
s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
s.settimeout(1.0)
def checksum(b):
    if len(b) % 2: b += b'\\0'
    t = sum(struct.unpack('!%dH' % (len(b) // 2), b)); t = (t >> 16) + (t & 0xffff); t += t >> 16
    return (~t) & 0xffff
ident = os.getpid() & 0xffff
body = b'tributary-fabric'
packet = struct.pack('!BBHHH', 8, 0, checksum(struct.pack('!BBHHH', 8, 0, 0, ident, 1) + body), ident, 1) + body
s.sendto(packet, (dst, 0))
deadline = time.time() + 1.0
while time.time() < deadline:
    try:
        data, addr = s.recvfrom(2048)
    except socket.timeout:
        break
    ihl = (data[0] & 15) * 4
    kind, _, _, rid, _ = struct.unpack('!BBHHH', data[ihl:ihl + 8])
    if kind == 0 and rid == ident and addr[0] == dst:
        sys.exit(0)
sys.exit(1)
"""

/// TCP receiver: accepts one connection, prints the goodput in bit/s from its first byte to EOF.
let pythonReceiver = """
import socket, sys, time
l = socket.socket(); l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
l.bind((sys.argv[1], int(sys.argv[2]))); l.listen(1); l.settimeout(20)
c, _ = l.accept(); c.settimeout(20)
buf = bytearray(1 << 20); n = 0; first = None
while True:
    k = c.recv_into(buf)
    if not k: break
    if first is None: first = time.monotonic()
    else: n += k
print(n * 8 / (time.monotonic() - first))
"""

/// TCP sender: connects (retrying while the receiver starts) and sends for argv[3] seconds.
let pythonSender = """
import socket, sys, time
s = None
for _ in range(200):
    try:
        s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=5); break
    except OSError:
        time.sleep(0.05)
if s is None: sys.exit(2)
chunk = b'x' * 65536; end = time.monotonic() + float(sys.argv[3])
while time.monotonic() < end: s.sendall(chunk)
s.close()
"""

/// Starts `argv` and returns it with its stdout pipe, waiting via a semaphore (not the polling
/// `waitUntilExit`).
final class Child: @unchecked Sendable {
    let process = Process()
    private let out = Pipe()
    private let err = Pipe()
    private let exited = DispatchSemaphore(value: 0)

    init(_ argv: [String]) throws {
        process.executableURL = URL(fileURLWithPath: CommandRunner.resolve(argv[0]))
        process.arguments = Array(argv.dropFirst())
        process.standardOutput = out
        process.standardError = err
        let exited = self.exited
        process.terminationHandler = { _ in exited.signal() }
        try process.run()
    }

    /// Waits for exit (killing the child after `timeout` seconds); returns status, stdout and stderr.
    func finish(timeout: Double) -> (status: Int32, stdout: String, stderr: String) {
        if exited.wait(timeout: .now() + timeout) == .timedOut {
            process.terminate()
            exited.wait()
        }
        let stdout = out.fileHandleForReading.readDataToEndOfFile()
        let stderr = err.fileHandleForReading.readDataToEndOfFile()
        return (process.terminationStatus, String(decoding: stdout, as: UTF8.self),
                String(decoding: stderr, as: UTF8.self))
    }
}
