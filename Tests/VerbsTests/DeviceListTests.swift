#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Testing
import Verbs

/// Whether this host has a usable RDMA device, judged once for all tests.
enum RDMAHost {
    static let usable = RDMAReadiness.check().usable
    static let skipReason: Comment = "needs an RDMA device (run inside the rxe VM)"
}

@Suite struct DeviceListTests {
    /// Without RDMA the list is empty or fails with ENOSYS; with it, every device has a name. Never crashes.
    @Test func deviceListIsEmptyOrFailsWithENOSYSOrNamesDevices() {
        do {
            let list = try DeviceList()
            if !RDMAHost.usable && list.isEmpty {
                #expect(list.devices.isEmpty)
            }
            for device in list {
                #expect(!device.name.isEmpty)
                #expect(list.device(named: device.name) === device)
            }
        } catch let error {
            #expect(error == .getDeviceList(errno: ENOSYS) || error.errorNumber != nil, "\(error)")
            #expect(!RDMAHost.usable)
        }
    }

    @Test(.disabled(if: RDMAHost.usable, "this host has RDMA"))
    func withoutRDMATheListIsEmptyOrENOSYS() {
        do {
            let list = try DeviceList()
            #expect(list.isEmpty)
        } catch {
            #expect(error == .getDeviceList(errno: ENOSYS))
        }
    }

    @Test(.disabled(if: RDMAHost.usable, "this host has RDMA"))
    func withoutRDMAAnEventChannelFailsCleanly() {
        // rdma_cm needs /dev/infiniband/rdma_cm; without it creation fails with a named error.
        #expect(throws: VerbsError.self) { _ = try EventChannel() }
    }
}
