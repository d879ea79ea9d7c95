#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Testing
@testable import Verbs

/// The readiness judgement on made-up hosts, and the real check on this one.
@Suite struct RDMAReadinessTests {
    typealias Observation = RDMAReadiness.Observation
    typealias DeviceObservation = RDMAReadiness.DeviceObservation
    typealias PortObservation = RDMAReadiness.PortObservation

    static let limits = DeviceAttributes(maxQP: 262_144, maxQPWR: 1_048_576, maxSGE: 32, maxCQ: 131_072,
                                         maxCQE: 32_767, maxMR: 524_288, maxMRSize: UInt64.max, physPortCount: 1)
    static let linkLocal = GID(bytes: [0xfe, 0x80] + [UInt8](repeating: 0, count: 13) + [1], index: 0,
                               type: .roceV2)
    static let ipv4 = GID(bytes: [UInt8](repeating: 0, count: 10) + [0xff, 0xff, 10, 99, 0, 1], index: 1,
                          type: .roceV2)

    static func port(_ state: PortAttributes.State, gids: [GID] = [linkLocal, ipv4],
                     linkLayer: PortAttributes.LinkLayer = .ethernet) -> PortObservation {
        PortObservation(number: 1,
                        attributes: .success(PortAttributes(state: state, maxMTU: 4096, activeMTU: 1024,
                                                             linkLayer: linkLayer, gidTableLength: 1024)),
                        gids: gids.map { .success($0) })
    }

    static func host(_ devices: [DeviceObservation], files: [String] = ["rdma_cm", "uverbs0"],
                     memlock: UInt64? = nil, capIPCLock: Bool? = false) -> Observation {
        Observation(listing: .found(devices), deviceFiles: files, memlockSoft: memlock, memlockHard: memlock,
                    canLockUnlimited: capIPCLock)
    }

    static func rxe0(_ ports: [PortObservation]) -> DeviceObservation {
        DeviceObservation(name: "rxe0", guid: "5054:00ff:fe12:3456", attributes: .success(limits), ports: ports)
    }

    @Test func kernelWithoutRDMASaysSo() {
        let report = RDMAReadiness.Report(Observation(
            listing: .failed(.getDeviceList(errno: ENOSYS)), deviceFiles: [], memlockSoft: nil, memlockHard: nil,
            canLockUnlimited: nil))
        #expect(!report.usable)
        #expect(report.reason == "this kernel has no RDMA support (CONFIG_INFINIBAND unset); use the rxe VM")
        #expect(report.problems == [report.reason])
        #expect(report.choice == nil)
        #expect(report.render().hasPrefix("RDMA is NOT usable: this kernel has no RDMA support"))
    }

    @Test func emptyDeviceListSuggestsRxe() {
        let report = RDMAReadiness.Report(Self.host([], files: []))
        #expect(!report.usable)
        #expect(report.reason == "no RDMA device; for soft-RoCE: rdma link add rxe0 type rxe netdev <if>")
    }

    @Test func activeRoCEPortWithIPv4GIDIsUsableAndNamesTheIndex() throws {
        let report = RDMAReadiness.Report(Self.host([Self.rxe0([Self.port(.active)])]))
        #expect(report.usable)
        #expect(report.problems.isEmpty)
        let choice = try #require(report.choice)
        #expect(choice.device == "rxe0")
        #expect(choice.port == 1)
        #expect(choice.gidIndex == 1)
        #expect(choice.ipv4Address == "10.99.0.1")
        #expect(choice.activeMTU == 1024)
        #expect(report.reason.hasPrefix("RDMA is usable: rxe0 port 1 is ACTIVE (MTU 1024, RoCE v2 GID index 1 = 10.99.0.1"))
        let text = report.render()
        #expect(text.contains("GID[1] ::ffff:10.99.0.1 (RoCE v2)  <- RoCE v2 IPv4: use this index"))
        #expect(text.hasPrefix("RDMA is usable: rxe0 port 1 is ACTIVE"))
        #expect(text.contains("max_qp 262144"))
        #expect(text.contains("max_mr_size no limit"))
        #expect(text.contains("port 1: ACTIVE, link layer Ethernet, active MTU 1024 (max 4096)"))
    }

    @Test func downPortIsExplained() {
        let report = RDMAReadiness.Report(Self.host([Self.rxe0([Self.port(.down)])]))
        #expect(!report.usable)
        #expect(report.reason.hasPrefix("rxe0 port 1 is DOWN: the link is down"))
    }

    @Test func activePortWithoutIPv4AddressIsExplained() {
        let report = RDMAReadiness.Report(Self.host([Self.rxe0([Self.port(.active, gids: [Self.linkLocal])])]))
        #expect(!report.usable)
        #expect(report.reason.contains("no"))
        #expect(report.reason.contains("RoCE v2 IPv4 address"))
    }

    @Test func roceV1IPv4EntryIsNotTheOneToUse() {
        var v1 = Self.ipv4
        v1.type = .roceV1
        var v2 = Self.ipv4
        v2.index = 3
        let report = RDMAReadiness.Report(Self.host([Self.rxe0([Self.port(.active, gids: [Self.linkLocal, v1, Self.linkLocal, v2])])]))
        #expect(report.usable)
        #expect(report.choice?.gidIndex == 3)
    }

    @Test func infiniBandPortNeedsNoRoCEGID() {
        let report = RDMAReadiness.Report(Self.host([Self.rxe0([Self.port(.active, gids: [], linkLayer: .infiniBand)])]))
        #expect(report.usable)
        #expect(report.choice?.gidIndex == nil)
    }

    @Test func missingRdmaCMDeviceFileBlocks() {
        let report = RDMAReadiness.Report(Self.host([Self.rxe0([Self.port(.active)])], files: ["uverbs0"]))
        #expect(!report.usable)
        #expect(report.reason.contains("rdma_ucm"))
    }

    @Test func deviceThatCannotBeOpenedIsAProblem() {
        let broken = DeviceObservation(name: "mlx5_0", guid: "0", attributes: .failure(.openDevice(name: "mlx5_0", errno: EACCES)),
                                       ports: [])
        let alone = RDMAReadiness.Report(Self.host([broken]))
        #expect(!alone.usable)
        #expect(alone.reason.contains("ibv_open_device"))
        // Another device that works makes the host usable; the broken one becomes a warning.
        let mixed = RDMAReadiness.Report(Self.host([broken, Self.rxe0([Self.port(.active)])]))
        #expect(mixed.usable)
        #expect(mixed.choice?.device == "rxe0")
        #expect(mixed.warnings.contains { $0.contains("mlx5_0") })
    }

    @Test func lowMemlockWarnsUnlessExempt() {
        let low = RDMAReadiness.Report(Self.host([Self.rxe0([Self.port(.active)])], memlock: 8 << 20))
        #expect(low.usable)
        #expect(low.warnings.contains { $0.hasPrefix("RLIMIT_MEMLOCK is 8 MiB") })
        let exempt = RDMAReadiness.Report(Self.host([Self.rxe0([Self.port(.active)])], memlock: 8 << 20, capIPCLock: true))
        #expect(exempt.warnings.isEmpty)
        let unlimited = RDMAReadiness.Report(Self.host([Self.rxe0([Self.port(.active)])], memlock: nil))
        #expect(unlimited.warnings.isEmpty)
        #expect(unlimited.render().contains("RLIMIT_MEMLOCK: soft unlimited, hard unlimited"))
    }

    @Test func gidReadFailuresAreWarnings() {
        var port = Self.port(.active)
        port.gids.append(.failure(.queryGID(port: 1, index: 2, errno: EINVAL)))
        let report = RDMAReadiness.Report(Self.host([Self.rxe0([port])]))
        #expect(report.usable)
        #expect(report.warnings.contains { $0.contains("GID index 2") })
    }

    // On this host (no RDMA in the kernel): not usable, and the reason names the cause.
    @Test(.disabled(if: RDMAHost.usable, "this host has RDMA"))
    func thisHostIsNotUsableAndSaysWhy() {
        let report = RDMAReadiness.check()
        #expect(!report.usable)
        #expect(!report.reason.isEmpty)
        #expect(report.reason.contains("CONFIG_INFINIBAND") || report.reason.contains("no RDMA device")
                || report.reason.contains("port") || report.reason.contains("rdma"))
        print(report.render())
    }
}
