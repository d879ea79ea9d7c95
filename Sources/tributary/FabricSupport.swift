import ArgumentParser
import Fabric
import Foundation
import Logging
import Transport
import TransportTCP
import TributaryCore

/// What `fabric up` leaves behind for the processes that run inside the fabric: the plan (who has
/// which address, what every link is) and whether the kernel enforces delay itself (netem).
struct FabricState: Codable {
    var plan: FabricPlan
    var netem: Bool
    var topologyPath: String

    static let directory = "/run/tributary"

    static func path(for name: String) -> String { "\(directory)/fabric-\(name).json" }

    func save() throws -> String {
        try FileManager.default.createDirectory(atPath: Self.directory, withIntermediateDirectories: true)
        let path = Self.path(for: plan.name)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try encoder.encode(self).write(to: URL(fileURLWithPath: path))
        return path
    }

    static func load(_ path: String) throws -> FabricState {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ValidationError("no fabric state at \(path): run `tributary fabric up` first")
        }
        return try JSONDecoder().decode(FabricState.self, from: data)
    }

    /// The node whose data address is `host`.
    func node(withAddress host: String) -> FabricPlan.Node? { plan.nodes.first { $0.dataAddress == host } }

    /// Path delay from `node` to the peer at `host`, when the data path must emulate it.
    func delay(from node: String, toAddress host: String) -> LinkDelay? {
        guard !netem, let peer = self.node(withAddress: host),
              let path = plan.pathProfile(from: node, to: peer.name) else {
            return nil
        }
        return LinkDelay(latency: path.latency, jitter: path.jitter, loss: path.loss)
    }
}

/// Options of a process that runs inside an emulated fabric.
struct FabricOptions: ParsableArguments {
    @Option(help: "Fabric state written by `tributary fabric up` (enables the data-path link emulator).")
    var fabricState: String?

    @Option(help: "This process's node in the fabric (switch or host name).")
    var node: String?

    @Option(help: "Seed of the emulated links' jitter.")
    var linkSeed: UInt64 = 1

    /// TCP, with the seeded delay layer on top when the fabric's kernel has no netem.
    func dataTransport(base: any FrameTransport, logger: Logger) throws -> any FrameTransport {
        let environment = ProcessInfo.processInfo.environment
        guard let fabricState = fabricState ?? environment[FabricExec.stateVariable] else { return base }
        guard let node = node ?? environment[FabricExec.nodeVariable] else {
            throw ValidationError("--fabric-state needs --node")
        }
        let state = try FabricState.load(fabricState)
        if state.netem {
            logger.info("link delay and jitter enforced by netem")
            return base
        }
        logger.info("link delay and jitter emulated in the data path (no netem in this kernel)")
        return LinkEmulatedTransport(base: base, seed: linkSeed &+ UInt64(abs(node.hashValue % 1_000_003))) { host in
            state.delay(from: node, toAddress: host)
        }
    }
}

struct FabricCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fabric",
        abstract: "Build, inspect or remove the emulated fabric: a network namespace per host and switch, shaped veth "
            + "links, a management network.",
        subcommands: [Up.self, Down.self, Status.self, FabricExec.self, FabricHostfile.self])

    struct Up: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create the fabric of a topology (as root).")
        @Option(help: "Topology file.") var config: String = "Configs/default.yaml"

        func run() throws {
            let topology = try loadTopology(config)
            let plan = try FabricPlan(topology: topology)
            let controller = FabricController(plan: plan) { print($0) }
            let start = Date()
            try controller.up()
            let state = FabricState(plan: plan, netem: FabricController.netemAvailable(), topologyPath: config)
            let path = try state.save()
            print(String(format: "fabric %@ up in %.1f s: %d namespaces, %d links; state in %@", plan.name,
                         Date().timeIntervalSince(start), plan.nodes.count + 1, plan.links.count, path))
            print(try controller.status().render())
        }
    }

    struct Down: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Remove everything `up` made (idempotent; also after a crash half-way).")
        @Option(help: "Topology file.") var config: String = "Configs/default.yaml"

        func run() throws {
            let topology = try loadTopology(config)
            let plan = try FabricPlan(topology: topology)
            try FabricController(plan: plan) { print($0) }.down()
            try? FileManager.default.removeItem(atPath: FabricState.path(for: plan.name))
            print("fabric \(plan.name) down")
        }
    }

    struct Status: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Per namespace and link: present or not, and which mechanism enforces rate, delay, jitter, loss.")
        @Option(help: "Topology file.") var config: String = "Configs/default.yaml"

        func run() throws {
            let topology = try loadTopology(config)
            let plan = try FabricPlan(topology: topology)
            print(try FabricController(plan: plan).status().render())
        }
    }
}

/// Loads a topology file for a command: a bad file is one line on stderr naming the file and line,
/// and exit status 2, the same for every command.
func loadTopology(_ path: String, command: String? = nil) throws -> Topology {
    do {
        return try Topology.load(path: path)
    } catch {
        writeStderr("tributary\(command.map { " \($0)" } ?? ""): \(error)")
        throw ExitCode(2)
    }
}

/// A fabric for one `launch`/`bench` run: reuses one that is already up, otherwise brings it up
/// and takes it down again when the run ends (whatever happened).
final class FabricSession {
    let state: FabricState
    let path: String
    private let controller: FabricController?

    init(config: String, topology: Topology, keep: Bool) throws {
        let plan = try FabricPlan(topology: topology)
        let existing = FabricState.path(for: plan.name)
        if FileManager.default.fileExists(atPath: existing), let state = try? FabricState.load(existing),
           (try? FabricController(plan: plan).status().complete) == true {
            self.state = state
            self.path = existing
            self.controller = nil
            print("fabric \(plan.name): using the fabric that is already up (\(existing))")
            return
        }
        let controller = FabricController(plan: plan)
        let start = Date()
        do {
            try controller.up()
        } catch {
            try? controller.down()
            throw error
        }
        state = FabricState(plan: plan, netem: FabricController.netemAvailable(), topologyPath: config)
        path = try state.save()
        self.controller = keep ? nil : controller
        print(String(format: "fabric %@ up in %.1f s (%d namespaces, %d shaped links; delay and jitter by %@)",
                     plan.name, Date().timeIntervalSince(start), plan.nodes.count + 1, plan.links.count,
                     state.netem ? "netem" : "the tributary data path"))
    }

    func close() {
        guard let controller else { return }
        do {
            try controller.down()
            try? FileManager.default.removeItem(atPath: path)
        } catch {
            writeStderr("tributary: fabric down failed: \(error)")
        }
    }
}

/// `tributary fabric exec --host h3 -- CMD…`: runs any program in a node's namespace of a fabric
/// that is up (`fabric up`, `serve --fabric`, a `launch --fabric --keep-fabric`), on exactly the
/// links Tributary uses, and returns its exit status. The program finds its place in the
/// environment: `TRIBUTARY_NODE`, `TRIBUTARY_DATA_ADDRESS`, `TRIBUTARY_FABRIC_STATE` (a
/// `tributary worker` uses them for its host, ring address and link emulation). Under a launcher
/// (`mpirun … tributary fabric exec --host-of-rank -- PROGRAM`) each rank goes to its own host's
/// namespace: rank r to the r-th host of the topology, as for Tributary's own workers. The launcher
/// itself runs with `--launcher` in the management namespace, which every host reaches over the
/// management network: Open MPI's ranks dial their launcher's PMIx server, by default on loopback,
/// which a rank in another namespace cannot reach.
struct FabricExec: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "exec", abstract: "Run a command in a host's (or switch's) namespace of a running fabric (as root).")

    static let nodeVariable = FabricEndpoint.nodeVariable
    static let dataAddressVariable = FabricEndpoint.dataAddressVariable
    static let stateVariable = "TRIBUTARY_FABRIC_STATE"

    @Option(help: "Topology file.") var config: String = "Configs/default.yaml"
    @Option(name: .customLong("host"), help: "The host or switch whose namespace runs the command.") var node: String?
    @Flag(help: "The host of this process's rank under a launcher (OMPI_COMM_WORLD_RANK, PMI_RANK, SLURM_PROCID or RANK): rank r runs on the r-th host.")
    var hostOfRank = false
    @Flag(help: "Run a launcher (mpirun) in the fabric's management namespace, its PMIx server reachable from every host's namespace.")
    var launcher = false
    @Option(help: "Preload this library (LD_PRELOAD) into the command only, not into `ip`.") var preload: String?
    @Argument(parsing: .captureForPassthrough, help: "The command and its arguments (after --).") var command: [String]

    func validate() throws {
        guard [node != nil, hostOfRank, launcher].filter({ $0 }).count == 1 else {
            throw ValidationError("give one of --host NODE, --host-of-rank or --launcher")
        }
    }

    func run() throws {
        let topology = try loadTopology(config, command: "fabric exec")
        let plan = try FabricPlan(topology: topology)
        let statePath = FabricState.path(for: plan.name)
        guard FileManager.default.fileExists(atPath: statePath) else {
            throw ValidationError("fabric \(plan.name) is not up: run `tributary fabric up --config \(config)` "
                                  + "or `tributary serve --fabric --config \(config)` first")
        }
        let state = try FabricState.load(statePath)
        var node = self.node ?? ""
        if hostOfRank {
            let rank: Int
            do {
                rank = try LaunchEnvironment.rankAndSize(rank: nil, size: nil).rank
            } catch {
                throw ValidationError("--host-of-rank: \(error)")
            }
            let hosts = topology.hostNames
            guard rank < hosts.count else {
                throw ValidationError("--host-of-rank: rank \(rank), but \(plan.name) has \(hosts.count) hosts")
            }
            node = hosts[rank]
        }
        let namespace: String
        if launcher {
            namespace = state.plan.managementNamespace
            // PMIx (Open MPI's launcher protocol) listens beyond loopback, on the management network.
            setenv("PMIX_MCA_ptl_tcp_remote_connections", "1", 1)
            setenv("PMIX_MCA_ptl_tcp_if_include", FabricPlan.managementNetwork, 1)
        } else {
            guard let place = state.plan.node(node) else {
                throw ValidationError("\(node) is not a host or switch of \(plan.name)")
            }
            namespace = place.namespace
            setenv(Self.nodeVariable, node, 1)
            setenv(Self.dataAddressVariable, place.dataAddress, 1)
        }
        var arguments = command.first == "--" ? Array(command.dropFirst()) : command
        guard !arguments.isEmpty else { throw ValidationError("give the command to run after --") }
        if let preload {
            let existing = ProcessInfo.processInfo.environment["LD_PRELOAD"].map { ":" + $0 } ?? ""
            arguments = ["/usr/bin/env", "LD_PRELOAD=\(preload)\(existing)"] + arguments
        }
        setenv(Self.stateVariable, statePath, 1)
        // This process becomes `ip netns exec`, which becomes the command (it enters the namespace
        // and execs, no fork): one process from start to end, so a launcher's signals, its wait and
        // its kill reach the command itself, its exit status is the command's, and nothing is orphaned.
        let argv = ["/usr/sbin/ip", "netns", "exec", namespace] + arguments
        var cArgs = argv.map { strdup($0) }
        cArgs.append(nil)
        execv(argv[0], &cArgs)
        throw ValidationError("cannot run \(argv[0]): \(String(cString: strerror(errno)))")
    }
}

/// `tributary fabric hostfile`: what a launcher needs to run any program on the fabric's links —
/// each host in rank order with its namespace and data address (routed to every other node over
/// the shaped links), and the Open MPI options that keep MPI's own traffic on those links.
struct FabricHostfile: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "hostfile",
        abstract: "Print the hosts of a fabric in rank order (namespace, data address) and how to run MPI on its links.")

    @Option(help: "Topology file.") var config: String = "Configs/default.yaml"
    @Flag(help: "JSON instead of text.") var json = false

    struct Entry: Codable {
        var rank: Int
        var host: String
        var namespace: String
        var dataAddress: String
    }

    func run() throws {
        let topology = try loadTopology(config, command: "fabric hostfile")
        let plan = try FabricPlan(topology: topology)
        let entries = topology.hostNames.enumerated().compactMap { rank, host in
            plan.node(host).map { Entry(rank: rank, host: host, namespace: $0.namespace, dataAddress: $0.dataAddress) }
        }
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            print(String(decoding: try encoder.encode(entries), as: UTF8.self))
            return
        }
        print("# fabric \(plan.name): \(entries.count) hosts in rank order (host, namespace, data address).")
        print("# Open MPI on exactly these links (as root, the fabric up; mpirun in the management namespace):")
        print("#   tributary fabric exec --config \(config) --launcher -- \\")
        print("#     mpirun -np \(entries.count) --oversubscribe --allow-run-as-root \(FabricHostfile.openMPIOptions.joined(separator: " ")) \\")
        print("#     tributary fabric exec --config \(config) --host-of-rank -- PROGRAM ARGS")
        print("# or through the switches: tributary mpirun --fabric --config \(config) -np \(entries.count) -- PROGRAM ARGS")
        for e in entries { print("\(e.host) \(e.namespace) \(e.dataAddress)") }
    }

    /// MPI's own traffic over TCP on the data addresses (the shaped links), never shared memory or
    /// the unshaped management network.
    static let openMPIOptions = ["--mca", "pml", "ob1", "--mca", "btl", "self,tcp",
                                 "--mca", "btl_tcp_if_include", FabricPlan.dataNetwork]
}
