import Authentication
import Foundation
import Logging
import Transport
import TransportTCP
import TributaryCore
import TributaryCAPI
import Worker

/// What a `tributary_comm *` points at: one joined communicator, its transport (both planes, one
/// event loop), and the lock that serialises C callers (a `Communicator` runs one operation at a time).
final class CommunicatorHandle: @unchecked Sendable {
    let communicator: Communicator
    let transport: TCPTransport
    let validation: Validation
    private let lock = NSLock()
    private var finalized = false

    init(communicator: Communicator, transport: TCPTransport, validation: Validation) {
        self.communicator = communicator
        self.transport = transport
        self.validation = validation
    }

    /// Runs `body` on the transport's event loop and blocks the calling C thread until it is done
    /// (sends are written and results resume the call on the loop, with no hop between threads).
    /// The lock makes a second caller on the same communicator wait its turn.
    func serially<T>(_ body: @escaping @Sendable (Communicator) async throws -> T) throws -> T {
        lock.lock()
        defer { lock.unlock() }
        guard !finalized else { throw CAPIError(TRIBUTARY_ERROR_CLOSED, "the communicator was finalized") }
        let communicator = UncheckedBox(self.communicator)
        return try Blocking.wait(on: transport.taskExecutor) { try await body(communicator.value) }
    }

    func finalize() {
        lock.lock()
        defer { lock.unlock() }
        guard !finalized else { return }
        finalized = true
        let parts = UncheckedBox((communicator, transport))
        _ = try? Blocking.wait {
            await parts.value.0.finish()
            await parts.value.1.shutdown()
        }
    }
}

/// Carries a non-Sendable value into the task that runs a C call; the handle's lock guarantees no
/// two tasks hold it at once.
struct UncheckedBox<T>: @unchecked Sendable {
    let value: T
    init(_ value: T) { self.value = value }
}

/// Blocking a plain C thread on async Swift work.
enum Blocking {
    /// - Parameter executor: where `body` runs (nil: the cooperative pool).
    static func wait<T>(on executor: (any TaskExecutor)? = nil,
                        _ body: @escaping @Sendable () async throws -> T) throws -> T {
        let done = DispatchSemaphore(value: 0)
        let outcome = OutcomeBox<T>()
        Task.detached(executorPreference: executor) {
            do { outcome.result = .success(try await body()) } catch { outcome.result = .failure(error) }
            done.signal()
        }
        done.wait()
        return try outcome.result!.get()
    }

    private final class OutcomeBox<T>: @unchecked Sendable {
        var result: Result<T, any Error>?
    }
}

/// A failure with the C result code it maps to.
struct CAPIError: Error, CustomStringConvertible {
    let code: tributary_result_t
    let description: String
    init(_ code: tributary_result_t, _ description: String) {
        self.code = code
        self.description = description
    }
}

extension tributary_config {
    /// Every field left to the environment (what `tributary_config_init` writes).
    static var unset: tributary_config {
        tributary_config(endpoint_file: nil, coordinator: nil, client_key_file: nil, job: nil,
                         job_secret: nil, rank: -1, size: -1, host: nil, host_number: -1, timeout_seconds: -1,
                         validate: -1)
    }
}

/// The settings a communicator joins with, after the C config and the environment are merged.
struct JoinSettings {
    var configuration: WorkerConfiguration
    var validate: Bool

    /// Reads the C config (nil: all from the environment), filling what it leaves unset from the
    /// environment, and names the first thing missing.
    static func resolve(_ config: tributary_config?,
                        environment: [String: String] = ProcessInfo.processInfo.environment) throws -> JoinSettings {
        func text(_ pointer: UnsafePointer<CChar>?) -> String? {
            pointer.map { String(cString: $0) }.flatMap { $0.isEmpty ? nil : $0 }
        }
        let given = config ?? .unset
        let rankAndSize: (rank: Int, size: Int)
        do {
            rankAndSize = try LaunchEnvironment.rankAndSize(rank: given.rank >= 0 ? Int(given.rank) : nil,
                                                            size: given.size >= 0 ? Int(given.size) : nil,
                                                            environment: environment)
        } catch {
            throw CAPIError(TRIBUTARY_ERROR_INVALID_ARGUMENT, error.description)
        }
        var endpoint: FabricEndpoint?
        if let path = text(given.endpoint_file) ?? environment[FabricEndpoint.environmentVariable] {
            do {
                endpoint = try FabricEndpoint.read(path)
            } catch {
                throw CAPIError(TRIBUTARY_ERROR_NO_FABRIC, error.description)
            }
        }
        var coordinator = endpoint?.coordinator
        if let address = text(given.coordinator) {
            guard let parsed = Endpoint(address) else {
                throw CAPIError(TRIBUTARY_ERROR_INVALID_ARGUMENT, "coordinator \(address) is not host:port")
            }
            coordinator = parsed
        }
        guard let coordinator else {
            throw CAPIError(TRIBUTARY_ERROR_NO_FABRIC, "no fabric named: set $\(FabricEndpoint.environmentVariable) "
                            + "to the endpoint file `tributary serve --endpoint-file` writes, or give endpoint_file "
                            + "or coordinator and client_key_file")
        }
        guard let keyFile = text(given.client_key_file) ?? environment[FabricEndpoint.clientKeyVariable]
            ?? endpoint?.clientKeyFile else {
            throw CAPIError(TRIBUTARY_ERROR_NO_FABRIC, "no client key: give client_key_file or an endpoint file")
        }
        let key: AuthKey
        do {
            key = try KeyFile.read(keyFile, allowGroup: true)
        } catch {
            throw CAPIError(TRIBUTARY_ERROR_NO_FABRIC, "\(error)")
        }
        guard let job = text(given.job) ?? LaunchEnvironment.jobName(environment: environment) else {
            throw CAPIError(TRIBUTARY_ERROR_INVALID_ARGUMENT, "no job name: give job or set $\(LaunchEnvironment.jobVariable)"
                            + " (Open MPI, Slurm and torchrun name the job themselves)")
        }
        guard let secret = text(given.job_secret) ?? environment[JobSecret.environmentVariable].flatMap({
            $0.isEmpty ? nil : $0
        }) else {
            throw CAPIError(TRIBUTARY_ERROR_NO_FABRIC, "no job secret: give job_secret or set "
                            + "$\(JobSecret.environmentVariable) to a secret every rank of job \(job) shares")
        }
        let timeout = given.timeout_seconds > 0 ? Int(given.timeout_seconds)
            : environment["TRIBUTARY_TIMEOUT"].flatMap { Int($0) }.flatMap { $0 > 0 ? $0 : nil } ?? 60
        let address = environment[FabricEndpoint.dataAddressVariable] ?? "127.0.0.1"
        var configuration = WorkerConfiguration(
            coordinator: coordinator, jobName: job, rank: rankAndSize.rank, worldSize: rankAndSize.size,
            host: text(given.host) ?? environment[FabricEndpoint.nodeVariable], clientKey: key, jobSecret: secret,
            operationTimeout: .seconds(timeout), joinTimeout: .seconds(timeout),
            ringListen: Endpoint(host: address, port: 0), transportReason: "tcp (C library)")
        configuration.hostNumber = given.host_number >= 0 ? Int(given.host_number) : nil
        let validate = given.validate >= 0 ? given.validate > 0 : environment["TRIBUTARY_VALIDATE"] == "1"
        return JoinSettings(configuration: configuration, validate: validate)
    }

    /// Joins the job: control and data over TCP, like `tributary worker --transport tcp`.
    func join() throws -> CommunicatorHandle {
        let configuration = self.configuration
        let validation: Validation = validate ? .shipInput : .none
        var logger = Logger(label: "tributary.c.rank\(configuration.rank)") { StreamLogHandler.standardError(label: $0) }
        logger.logLevel = ProcessInfo.processInfo.environment["TRIBUTARY_LOG_LEVEL"]
            .flatMap { Logger.Level(rawValue: $0) } ?? .warning
        // One transport, one event loop, for both planes: the report after each operation is
        // written from the loop the operation runs on (`serially`).
        let transport = TCPTransport(localName: "rank \(configuration.rank)")
        let joined = UncheckedBox(logger)
        do {
            let communicator = try Blocking.wait {
                UncheckedBox(try await Communicator.join(configuration, control: transport, data: transport,
                                                         logger: joined.value))
            }.value
            return CommunicatorHandle(communicator: communicator, transport: transport, validation: validation)
        } catch {
            _ = try? Blocking.wait { await transport.shutdown() }
            throw CAPIError(TRIBUTARY_ERROR_JOIN, "rank \(configuration.rank) cannot join job "
                            + "\(configuration.jobName): \(error)")
        }
    }
}
