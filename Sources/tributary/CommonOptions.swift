@preconcurrency import Glibc
import ArgumentParser
import Foundation
import Logging
import Transport
import TransportTCP
import TransportRDMA
import TributaryCore
import Verbs

/// Options every daemon and the worker share.
struct CommonOptions: ParsableArguments {
    @Option(help: "Data-plane transport: auto (RDMA when this process's data address is served by an ACTIVE RDMA port, otherwise TCP), rdma or tcp.")
    var transport: TransportChoice = .auto

    /// Set by `launch`/`bench`, which resolve `auto` once for the whole cluster and pass the
    /// concrete transport down with the reason, so every rank reports the same why.
    @Option(help: .hidden) var transportReason: String?

    @Option(help: "How RDMA places a piece in the peer's receive buffer: write-imm (RDMA WRITE with immediate) or send.")
    var rdmaOperation: RDMATransport.Operation = .writeWithImmediate

    @Option(help: "RDMA receive (and send) buffers per connection, 260 KiB each: the peer's credits, how many pieces may be in flight (perftest's --rx-depth).")
    var rdmaReceiveBuffers: Int = 32

    @Option(help: "Seconds an RDMA connection may take to resolve, route and connect (rdma_cm) before it fails naming the peer; soft-RoCE under emulation (the test VM) may need more than the default.")
    var rdmaConnectTimeout: Int = 10

    func validate() throws {
        guard (1...3600).contains(rdmaConnectTimeout) else {
            throw ValidationError("--rdma-connect-timeout takes 1 to 3600 seconds")
        }
    }

    @Option(help: "Log level: trace, debug, info, notice, warning, error, critical.")
    var logLevel: Logger.Level = .info

    func makeLogger(_ label: String) -> Logger {
        var logger = Logger(label: label) { StreamLogHandler.standardError(label: $0) }
        logger.logLevel = logLevel
        return logger
    }

    /// The options that give a child process this (resolved) data transport, its reason and the
    /// RDMA settings: `launch` and `bench` hand the same to every aggregator and worker.
    func childTransportArguments(_ transport: TransportChoice, reason: String) -> [String] {
        ["--transport", transport.rawValue, "--transport-reason", reason, "--rdma-operation", rdmaOperation.rawValue,
         "--rdma-receive-buffers", "\(rdmaReceiveBuffers)", "--rdma-connect-timeout", "\(rdmaConnectTimeout)"]
    }

    /// The data-plane transport for a process whose data address is `dataAddress`, and why.
    /// nil `dataAddress`: the process only connects, and `auto` goes by the host's devices alone.
    func dataTransport(localName: String, dataAddress: String?) throws -> (any FrameTransport, String) {
        let (resolved, why) = try transport.resolve(dataAddresses: dataAddress.map { [$0] } ?? [])
        let reason = transportReason ?? why
        switch resolved {
        case .rdma:
            guard rdmaReceiveBuffers >= 4 else { throw ValidationError("--rdma-receive-buffers must be at least 4") }
            return (RDMATransport(localName: localName, configuration: .init(
                        receiveBufferCount: rdmaReceiveBuffers, sendBufferCount: rdmaReceiveBuffers,
                        connectTimeout: .seconds(rdmaConnectTimeout), operation: rdmaOperation)),
                    reason + ", \(rdmaOperation.rawValue)")
        default: return (TCPTransport(localName: localName), reason)
        }
    }
}

extension Logger.Level: @retroactive ExpressibleByArgument {}
extension RDMATransport.Operation: ExpressibleByArgument {}

enum TransportChoice: String, ExpressibleByArgument, CaseIterable, Sendable {
    case auto, tcp, rdma

    /// The concrete transport (`.rdma` or `.tcp`) and why, so no choice and no fallback is silent.
    /// `rdma` must be usable here or it is an error naming what is missing; `auto` takes RDMA when
    /// every data address given is served by an RDMA device with an ACTIVE port (soft-RoCE serves
    /// no loopback, so a loopback cluster stays on TCP even on an RDMA host), otherwise TCP.
    func resolve(dataAddresses: [String]) throws -> (TransportChoice, String) {
        switch self {
        case .tcp:
            return (.tcp, "tcp (requested)")
        case .rdma:
            let readiness = RDMAReadiness.check()
            guard readiness.usable else {
                throw ValidationError("--transport rdma: \(readiness.reason) (see `tributary doctor`)")
            }
            return (.rdma, "rdma (requested; \(readiness.reason))")
        case .auto:
            let readiness = RDMAReadiness.check()
            guard readiness.usable else { return (.tcp, "tcp (auto: \(readiness.reason))") }
            var served: [String] = []
            for address in Set(dataAddresses).sorted() {
                switch RDMAReadiness.device(serving: address) {
                case .success(let device):
                    served.append("\(address) on \(device)")
                case .failure(let error):
                    return (.tcp, "tcp (auto: RDMA devices are up, but data address \(address) is not served by one: "
                                + "\(error); give an RDMA device's address to use RDMA)")
                }
            }
            return (.rdma, "rdma (auto: \(served.isEmpty ? readiness.reason : served.joined(separator: ", ")))")
        }
    }
}

/// The path of this executable, to start more of it (cluster children, the socket sink).
func selfExecutable() -> String {
    let invoked = URL(fileURLWithPath: CommandLine.arguments[0]).standardizedFileURL.path
    return FileManager.default.fileExists(atPath: invoked) ? invoked : (Bundle.main.executablePath ?? invoked)
}

extension Endpoint: ExpressibleByArgument {
    public init?(argument: String) { self.init(argument) }
}

/// When started by `launch`, a child watches its stdin: the launcher holds the other end, so EOF
/// means the launcher is gone (even after SIGKILL) and the child must not linger as an orphan.
enum ParentWatch {
    static func startIfRequested() {
        guard ProcessInfo.processInfo.environment["TRIBUTARY_PARENT_WATCH"] == "stdin" else { return }
        let thread = Thread {
            var buffer = [UInt8](repeating: 0, count: 64)
            while true {
                let n = read(0, &buffer, buffer.count)
                if n == 0 || (n < 0 && errno != EINTR) { break }
            }
            FileHandle.standardError.write("tributary: launcher gone (stdin closed); exiting\n".data(using: .utf8)!)
            _exit(70)
        }
        thread.start()
    }
}

/// Parses `256KiB`, `1M`, `4096`, `64MiB` into bytes.
func parseSize(_ text: String) -> Int? {
    let t = text.trimmingCharacters(in: .whitespaces)
    let digits = t.prefix { $0.isNumber || $0 == "." }
    guard let value = Double(digits) else { return nil }
    let unit = t.dropFirst(digits.count).lowercased()
    let scale: Double
    switch unit {
    case "", "b": scale = 1
    case "k", "kb", "kib": scale = 1024
    case "m", "mb", "mib": scale = 1024 * 1024
    case "g", "gb", "gib": scale = 1024 * 1024 * 1024
    default: return nil
    }
    let bytes = value * scale
    guard bytes >= 0, bytes < 1e15, bytes == bytes.rounded() else { return nil }
    return Int(bytes)
}

struct ByteSize: ExpressibleByArgument, Sendable, CustomStringConvertible {
    var bytes: Int
    init(_ bytes: Int) { self.bytes = bytes }
    init?(argument: String) {
        guard let b = parseSize(argument) else { return nil }
        bytes = b
    }
    var description: String { formatBytesShort(bytes) }
}

func formatBytesShort(_ n: Int) -> String {
    if n >= 1 << 20 && n % (1 << 20) == 0 { return "\(n >> 20)MiB" }
    if n >= 1 << 10 && n % (1 << 10) == 0 { return "\(n >> 10)KiB" }
    return "\(n)"
}

extension DType: ExpressibleByArgument {
    public init?(argument: String) { self.init(name: argument) }
}

extension ReduceOp: ExpressibleByArgument {
    public init?(argument: String) { self.init(name: argument) }
}

extension Collective: ExpressibleByArgument {
    public init?(argument: String) {
        guard let c = Collective.allCases.first(where: { $0.description == argument.lowercased() }) else { return nil }
        self = c
    }
}

func writeStderr(_ s: String) {
    FileHandle.standardError.write((s + "\n").data(using: .utf8)!)
}

/// Commands whose output grows line by line (launch, bench, stream) flush each line even into a
/// pipe or file, as nccl-tests and perftest do: `tributary launch … | tee run.log` shows the banner and
/// each result as it happens, and a watcher reading the file sees where the logs are at once.
func lineBufferStandardOutput() {
    // Before anything is printed, on the main path of the command: nothing races this stream.
    setvbuf(standardOutputStream(), nil, _IOLBF, 0)
}

/// glibc's `stdout` is a mutable global, which Swift 6 will not read from concurrent code
/// (`@preconcurrency import Glibc` above lets this one place do it); `fdopen` would make a second
/// stream, not the one `print` writes to.
private func standardOutputStream() -> UnsafeMutablePointer<FILE> {
    stdout
}

/// Allocator settings for the data path. Chunk buffers are a few hundred KiB: above glibc's
/// default mmap threshold, each would be a fresh mmap, page-faulted in and unmapped again
/// (10 % of an aggregator's time in profiles). Keeping them on the heap lets freed chunks be reused.
enum ProcessTuning {
    static func apply() {
        // mallopt lives in <malloc.h>, which Glibc's module map leaves out; parameters from it.
        typealias Mallopt = @convention(c) (Int32, Int32) -> Int32
        guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "mallopt") else { return }
        let mallopt = unsafeBitCast(symbol, to: Mallopt.self)
        let trimThreshold: Int32 = -1, topPad: Int32 = -2, mmapThreshold: Int32 = -3
        _ = mallopt(mmapThreshold, 64 << 20)
        _ = mallopt(trimThreshold, 128 << 20)
        _ = mallopt(topPad, 16 << 20)
    }
}
