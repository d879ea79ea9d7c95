import ArgumentParser
import Bench
import Foundation
import TributaryCore

/// What this machine allows, measured now: the ceilings every bench figure is compared with.
struct MeasuredLimits: Codable {
    var socket: Throughput
    var memcpy: Throughput
    /// Kernel throughput (source bytes/s) per "dtype op".
    var kernels: [String: Throughput]

    /// Measures raw loopback socket throughput between this process and a child sink process,
    /// memcpy bandwidth, and the reduction kernels for `kernels`.
    static func measure(kernels: [(DType, ReduceOp)], bytes: Int = 64 << 20, socketBytes: Int = 1 << 30,
                        repeats: Int = 5, progress: ProgressLine? = nil) throws -> MeasuredLimits {
        progress?.update("limits: raw loopback socket")
        var socketSamples: [Double] = []
        for _ in 0..<max(1, repeats / 2 + 1) {
            socketSamples.append(try socketOnce(bytes: socketBytes))
        }
        progress?.update("limits: memcpy")
        let memcpy = MachineLimits.memcpyBandwidth(bytes: bytes, repeats: repeats)
        var measured: [String: Throughput] = [:]
        for (dtype, op) in kernels where op.supports(dtype) {
            progress?.update("limits: kernel \(dtype) \(op)")
            measured["\(dtype) \(op)"] = MachineLimits.kernelThroughput(dtype, op, bytes: bytes, repeats: repeats)
        }
        return MeasuredLimits(socket: Throughput(samples: socketSamples), memcpy: memcpy, kernels: measured)
    }

    /// One transfer to a fresh `tributary limits --socket-sink` process.
    private static func socketOnce(bytes: Int) throws -> Double {
        let portFile = FileManager.default.temporaryDirectory.appendingPathComponent("tributary-sink-\(UUID()).port").path
        let sink = Process()
        sink.executableURL = URL(fileURLWithPath: selfExecutable())
        sink.arguments = ["limits", "--socket-sink", "--port-file", portFile]
        sink.standardInput = Pipe()
        var env = ProcessInfo.processInfo.environment
        env["TRIBUTARY_PARENT_WATCH"] = "stdin"
        sink.environment = env
        try sink.run()
        defer {
            if sink.isRunning { kill(sink.processIdentifier, SIGKILL) }
            sink.waitUntilExit()
            try? FileManager.default.removeItem(atPath: portFile)
        }
        let deadline = Date().addingTimeInterval(10)
        var port: Int?
        while port == nil && Date() < deadline && sink.isRunning {
            if let text = try? String(contentsOfFile: portFile, encoding: .utf8), text.hasSuffix("\n") {
                port = Int(text.trimmingCharacters(in: .whitespacesAndNewlines))
            } else {
                usleep(10_000)
            }
        }
        guard let port else { throw ValidationError("socket sink did not start") }
        return try SocketThroughput.send(toPort: port, bytes: bytes)
    }

    var headline: String {
        String(format: "raw loopback socket %.2f GB/s | memcpy %.2f GB/s", socket.gbps, memcpy.gbps)
            + kernels.keys.sorted().map { k in
                String(format: " | kernel %@ %.2f GB/s (%.0f%% of memcpy)", k, kernels[k]!.gbps,
                       100 * kernels[k]!.bytesPerSecond / memcpy.bytesPerSecond)
            }.joined()
    }
}

struct LimitsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "limits",
        abstract: "Measure this machine's ceilings: raw loopback socket throughput between two processes, memcpy "
            + "bandwidth and the reduction kernels (medians).")

    @Flag(help: .hidden) var socketSink = false
    @Option(help: .hidden) var portFile: String?

    @Option(help: "Repeats per measurement (the median is reported).")
    var repeats: Int = 5

    @Option(help: "Buffer size for memcpy and the kernels (e.g. 64M; past the last-level cache to measure memory).")
    var bytes: ByteSize = ByteSize(64 << 20)

    @Option(help: "Bytes sent per raw socket sample.")
    var socketBytes: ByteSize = ByteSize(1 << 30)

    func validate() throws {
        guard repeats >= 1 else { throw ValidationError("--repeats must be at least 1") }
        guard bytes.bytes >= 64 else { throw ValidationError("--bytes must be at least 64") }
        guard socketBytes.bytes >= 1 << 20 else { throw ValidationError("--socket-bytes must be at least 1M") }
    }

    func run() throws {
        ParentWatch.startIfRequested()
        if socketSink {
            try SocketThroughput.serveSink(port: 0) { port in
                if let portFile {
                    try? "\(port)\n".write(toFile: portFile, atomically: true, encoding: .utf8)
                }
            }
            return
        }
        let all = DType.allCases.flatMap { d in [ReduceOp.sum, .max].map { (d, $0) } }
        let limits = try MeasuredLimits.measure(kernels: all, bytes: bytes.bytes, socketBytes: socketBytes.bytes,
                                                repeats: repeats, progress: ProgressLine())
        ProgressLine().finish()
        print(String(format: "raw loopback socket (2 processes): %.2f GB/s  (samples: %@)", limits.socket.gbps,
                     limits.socket.samples.map { String(format: "%.2f", $0 / 1e9) }.joined(separator: " ")))
        let size = Self.sizeLabel(bytes.bytes)
        print("memcpy \(size):".padding(toLength: 35, withPad: " ", startingAt: 0)
              + String(format: "%.2f GB/s", limits.memcpy.gbps))
        for key in limits.kernels.keys.sorted() {
            let t = limits.kernels[key]!
            print("kernel \(key.padding(toLength: 10, withPad: " ", startingAt: 0)) \(size):"
                    .padding(toLength: 35, withPad: " ", startingAt: 0)
                  + String(format: "%.2f GB/s  (%3.0f%% of memcpy)", t.gbps,
                           100 * t.bytesPerSecond / limits.memcpy.bytesPerSecond))
        }
    }

    /// `64 MiB`, `1 MiB`, `48 KiB`, `1000 B`: the size as the table has always shown it.
    static func sizeLabel(_ n: Int) -> String {
        if n >= 1 << 20 && n % (1 << 20) == 0 { return "\(n >> 20) MiB" }
        if n >= 1 << 10 && n % (1 << 10) == 0 { return "\(n >> 10) KiB" }
        return "\(n) B"
    }
}
