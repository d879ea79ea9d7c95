import Aggregator
import Authentication
import Coordinator
import Foundation
import Logging
import Transport
import TransportRDMA
import TransportTCP
import Verbs
import TributaryCore
import TributaryTestSupport
import Worker

/// Transports the cluster tests run over: every algorithm test runs over each of `allCases`.
///
/// `rdma` needs a device, so it runs in the rxe VM: `scripts/rdma-tests` sets
/// `TRIBUTARY_TEST_TRANSPORTS=rdma` and the whole cluster suite runs again over RDMA there (control
/// on TCP loopback, data on the two soft-RoCE devices). On a host without RDMA the list is
/// `inproc, tcp`; naming `rdma` where no device is usable fails the run rather than skipping.
enum TransportKind: String, CaseIterable, Sendable, CustomStringConvertible {
    case inproc, tcp, rdma
    var description: String { rawValue }

    static var allCases: [TransportKind] {
        guard let list = ProcessInfo.processInfo.environment["TRIBUTARY_TEST_TRANSPORTS"] else { return [.inproc, .tcp] }
        return list.split(separator: ",").map { name in
            guard let kind = TransportKind(rawValue: String(name)) else {
                fatalError("TRIBUTARY_TEST_TRANSPORTS: unknown transport \(name)")
            }
            return kind
        }
    }

    /// Variations of one scenario that differ only in what the coordinator or the switches do (which
    /// switch dies, which field mismatches) all run on the host. Over soft-RoCE in the emulated guest,
    /// where a cluster boots in seconds rather than milliseconds, `representative` stands for them:
    /// that run is there for the transport, and the suite must fit CI's time.
    static func variations<T>(_ all: [T], representative: T) -> [T] {
        inEmulatedGuest ? [representative] : all
    }

    /// The run is the RDMA one inside the rxe VM (`scripts/rdma-tests`), where every cluster boot
    /// and operation costs seconds: suites leave out their largest or most repetitive cases.
    static var inEmulatedGuest: Bool { allCases.contains(.rdma) }

    func make(_ name: String) -> any FrameTransport {
        switch self {
        case .inproc: return InProcessTransport(viaWireFormat: true)
        case .tcp: return TCPTransport(localName: name)
        // Chunks here are 1 KiB: small receive buffers keep a dozen connections within the VM's memory.
        case .rdma: return RDMATransport(localName: name, configuration: .init(receiveBufferSize: 32 << 10))
        }
    }

    /// The coordinator and control plane over RDMA: TCP, as in the real daemons.
    func makeControl(_ name: String) -> any FrameTransport { TCPTransport(localName: name) }

    /// Where aggregators listen for data: rxe0's address for RDMA, loopback otherwise.
    var aggregatorHost: String { self == .rdma ? RDMATestHost.address : "127.0.0.1" }
    /// Where workers listen for their ring peer: rxe1's address for RDMA (a second device).
    var workerHost: String { self == .rdma ? RDMATestHost.peerAddress : "127.0.0.1" }
}

/// A whole cluster in one process: coordinator, one aggregator task per switch of the tree, one
/// task per rank. The same roles as the multi-process cluster, minus process boundaries.
struct ClusterHarness {
    var topology: Topology
    var ranks: Int
    var transport: TransportKind
    var chunkBytes = 1024
    var window = 4
    var stallTimeout: Duration = .seconds(30)
    var operationTimeout: Duration = .seconds(60)
    /// Runs against every aggregator's data endpoint before the ranks join (bad-peer tests).
    var rogue: (@Sendable (Endpoint, any FrameTransport) async throws -> Void)?
    /// Runs against the coordinator's control endpoint before anything registers (bad-peer tests).
    var coordinatorRogue: (@Sendable (Endpoint, any FrameTransport) async throws -> Void)?
    /// Start the tree's aggregators (false: the job must fall back to the host ring).
    var startAggregators = true
    var aggregatorWait: Duration?
    /// The fabric's keys for this run: rogue peers may use them to act as a tenant (client key) or not.
    var credentials = FabricCredentials(secret: AuthKey.random())
    /// The secret the job's ranks share.
    var jobSecret = "cluster-test-job-secret"
    /// Slots the job asks for (nil: the default quota) and what the fabric does when they are not free.
    var slotRequest: Int?
    var admissionPolicy: AdmissionPolicy = .ring
    /// The control transport of the current run, for rank bodies that play a rogue peer on it.
    let control = TransportBox()
    /// Faults every aggregator and rank injects (ranks then know their hosts: the topology's first
    /// `ranks`); a kill or hang cannot end this process, so it is only handed to `faultStruck`.
    var faults: FaultPlan?
    var faultStruck: @Sendable (ProcessFault, String) -> Void = { _, _ in }
    /// Adjusts the coordinator's configuration (timeouts, limits) before it starts.
    var configure: @Sendable (inout CoordinatorConfiguration) -> Void = { _ in }

    static let logger: Logger = {
        var l = Logger(label: "test") { StreamLogHandler.standardError(label: $0) }
        l.logLevel = ProcessInfo.processInfo.environment["TRIBUTARY_TEST_LOG"].flatMap { Logger.Level(rawValue: $0) } ?? .critical
        return l
    }()

    static func topology(_ name: String) throws -> Topology {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        return try Topology.load(path: root.appendingPathComponent("Configs/\(name)").path)
    }

    /// A running fabric: the coordinator and the aggregators of the tree over the first `ranks`
    /// hosts (or of `switches`), as tasks of this process, serving jobs until `stop`.
    final class Fabric: @unchecked Sendable {
        let coordinator: Coordinator
        let aggregators: [AggregatorDaemon]
        let endpoint: Endpoint
        let control: any FrameTransport
        let net: any FrameTransport
        private let tasks: [Task<Void, Never>]

        init(coordinator: Coordinator, aggregators: [AggregatorDaemon], endpoint: Endpoint, control: any FrameTransport,
             net: any FrameTransport, tasks: [Task<Void, Never>]) {
            self.coordinator = coordinator
            self.aggregators = aggregators
            self.endpoint = endpoint
            self.control = control
            self.net = net
            self.tasks = tasks
        }

        func stop() async {
            for task in tasks { task.cancel() }
            for task in tasks { await task.value }
        }
    }

    func startFabric(switches: [String]? = nil) async throws -> Fabric {
        let net = transport.make("test")
        let control = transport == .rdma ? transport.makeControl("test") : net
        self.control.transport = control
        let coordinator = try Coordinator(
            configuration: {
                var c = CoordinatorConfiguration(listen: Endpoint(host: "127.0.0.1", port: 0), topology: topology,
                                                 credentials: credentials, chunkBytes: chunkBytes, window: window,
                                                 assemblyTimeout: .seconds(30), aggregatorWait: aggregatorWait)
                c.admissionPolicy = admissionPolicy
                // Every daemon shares this one process (and, over RDMA, a 2-vCPU emulated guest): a
                // switch's heartbeat can lag a second behind the others' while it folds, and
                // judging it hung would start a recovery no test asked for. Kills here close
                // connections, which are heard at once; hangs are judged by the launch tests.
                c.switchSilence = .seconds(10)
                configure(&c)
                return c
            }(),
            transport: control, logger: Self.logger)
        let endpoint = try await coordinator.start()
        var tasks = [Task { _ = await coordinator.run() }]
        if let coordinatorRogue { try await coordinatorRogue(endpoint, control) }
        let tree = try TreeBuilder(topology: topology).build(hosts: Array(topology.hostNames.prefix(ranks)))
        var daemons: [AggregatorDaemon] = []
        for name in startAggregators ? (switches ?? tree.aggregatorsTopDown) : [] {
            var configuration = AggregatorConfiguration(switchName: name, coordinator: endpoint,
                                                        dataListen: Endpoint(host: transport.aggregatorHost, port: 0),
                                                        daemonKey: credentials.daemonKey!, stallTimeout: stallTimeout)
            configuration.faults = faults.map { FaultInjector(plan: $0, act: faultStruck) }
            let daemon = AggregatorDaemon(configuration: configuration, control: control, data: net, logger: Self.logger)
            daemons.append(daemon)
            tasks.append(Task { _ = try? await daemon.run() })
            if let rogue {
                var endpoint: Endpoint?
                while endpoint == nil {
                    try await Task.sleep(for: .milliseconds(5))
                    endpoint = await daemon.dataEndpoint
                }
                try await rogue(endpoint!, net)
            }
        }
        return Fabric(coordinator: coordinator, aggregators: daemons, endpoint: endpoint, control: control, net: net,
                      tasks: tasks)
    }

    /// Runs `body` on every rank concurrently and returns each rank's value, in rank order.
    /// Rank failures are returned, not thrown, so tests can assert on what each rank saw.
    func run<T: Sendable>(_ body: @escaping @Sendable (Communicator) async throws -> T) async throws
        -> [Result<T, Error>] {
        let fabric = try await startFabric()
        let results = try await runJob(on: fabric, body)
        await fabric.stop()
        return results
    }

    /// One job of `ranks` ranks (on hosts `hosts`, default the first `ranks`) on a running fabric.
    func runJob<T: Sendable>(on fabric: Fabric, name: String = "default", ranks: Int? = nil, hosts: [String]? = nil,
                             jobSecret secret: String? = nil,
                             _ body: @escaping @Sendable (Communicator) async throws -> T) async throws
        -> [Result<T, Error>] {
        let ranks = ranks ?? self.ranks
        let timeout = operationTimeout
        let (clientKey, jobSecret, slotRequest) = (credentials.clientKey, secret ?? self.jobSecret, self.slotRequest)
        let (endpoint, control, net, transport) = (fabric.endpoint, fabric.control, fabric.net, self.transport)
        let injector = faults.map { FaultInjector(plan: $0, act: faultStruck) }
        let hosts = hosts ?? (injector == nil ? nil : Array(topology.hostNames.prefix(ranks)))
        return try await withThrowingTaskGroup(of: (Int, Result<T, Error>).self) { group in
            for rank in 0..<ranks {
                group.addTask {
                    do {
                        var configuration = WorkerConfiguration(
                            coordinator: endpoint, jobName: name, rank: rank, worldSize: ranks,
                            host: hosts.map { $0[rank] }, clientKey: clientKey,
                            jobSecret: jobSecret, operationTimeout: timeout, joinTimeout: .seconds(30),
                            ringListen: Endpoint(host: transport.workerHost, port: 0))
                        configuration.slotRequest = slotRequest
                        configuration.faults = injector
                        let comm = try await Communicator.join(configuration, control: control, data: net,
                                                               logger: Self.logger)
                        let value = try await body(comm)
                        await comm.finish()
                        return (rank, .success(value))
                    } catch {
                        return (rank, .failure(error))
                    }
                }
            }
            var out = [Result<T, Error>?](repeating: nil, count: ranks)
            for try await (rank, result) in group { out[rank] = result }
            return out.map { $0! }
        }
    }
}

extension Result {
    var value: Success? { try? get() }
    var error: Failure? {
        if case .failure(let e) = self { return e }
        return nil
    }
}

/// Bit patterns of a raw buffer, for exact comparison.
func bytes(_ p: UnsafeRawPointer, _ count: Int) -> [UInt8] {
    Array(UnsafeRawBufferPointer(start: p, count: count))
}

/// Holds a run's control transport (set once per run, read by rank bodies).
final class TransportBox: @unchecked Sendable {
    private let lock = NSLock()
    private var value: (any FrameTransport)?
    var transport: (any FrameTransport)? {
        get { lock.withLock { value } }
        set { lock.withLock { value = newValue } }
    }
}
