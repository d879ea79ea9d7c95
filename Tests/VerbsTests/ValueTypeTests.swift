import CVerbs
import Testing
@testable import Verbs

/// The Swift values the wrappers copy C structs into.
@Suite struct ValueTypeTests {
    @Test func gidTextIsIPv6StyleAndKnowsIPv4MappedRoCEv2() {
        let mapped = GID(bytes: [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 10, 99, 0, 1], index: 1, type: .roceV2)
        #expect(mapped.description == "::ffff:10.99.0.1")
        #expect(mapped.isIPv4Mapped)
        #expect(mapped.isIPv4MappedRoCEv2)
        #expect(mapped.ipv4Address == "10.99.0.1")

        var v1 = mapped
        v1.type = .roceV1
        #expect(!v1.isIPv4MappedRoCEv2)

        let linkLocal = GID(bytes: [0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0x50, 0x54, 0, 0xff, 0xfe, 0x12, 0x34, 0x56],
                            index: 0, type: .roceV2)
        #expect(linkLocal.description == "fe80::5054:ff:fe12:3456")
        #expect(!linkLocal.isIPv4Mapped)
        #expect(linkLocal.ipv4Address == nil)

        let empty = GID(bytes: [UInt8](repeating: 0, count: 16), index: 5, type: nil)
        #expect(empty.isZero)
        #expect(empty.description == "::")
    }

    @Test func gidRoundTripsThroughTheCUnion() {
        let bytes: [UInt8] = (0..<16).map { UInt8($0 * 7) }
        let gid = GID(bytes: bytes, index: 2, type: .roceV2)
        #expect(GID.bytes(of: gid.raw) == bytes)
    }

    @Test func mtuEnumAndBytes() {
        #expect(PortAttributes.bytes(IBV_MTU_256) == 256)
        #expect(PortAttributes.bytes(IBV_MTU_1024) == 1024)
        #expect(PortAttributes.bytes(IBV_MTU_4096) == 4096)
        #expect(PortAttributes.bytes(ibv_mtu(rawValue: 0)) == 0)
        #expect(PortAttributes.mtu(bytes: 1024) == IBV_MTU_1024)
        #expect(PortAttributes.mtu(bytes: 1500) == IBV_MTU_1024)
        #expect(PortAttributes.mtu(bytes: 9000) == IBV_MTU_4096)
        #expect(PortAttributes.mtu(bytes: 100) == IBV_MTU_256)
    }

    @Test func portStateWords() {
        #expect(PortAttributes.State(IBV_PORT_ACTIVE) == .active)
        #expect(PortAttributes.State(IBV_PORT_ACTIVE).isActive)
        #expect(PortAttributes.State(IBV_PORT_DOWN).description == "DOWN")
        #expect(PortAttributes.State(IBV_PORT_DOWN).explanation.contains("ip link set"))
        #expect(!PortAttributes.State(IBV_PORT_INIT).isActive)
    }

    @Test func cmAddressParsesAndPrints() throws {
        let v4 = try #require(CMAddress(host: "10.99.0.1", port: 7471))
        #expect(v4.isIPv4)
        #expect(v4.host == "10.99.0.1")
        #expect(v4.port == 7471)
        #expect(v4.description == "10.99.0.1:7471")
        let v6 = try #require(CMAddress(host: "fe80::1", port: 1))
        #expect(!v6.isIPv4)
        #expect(v6.description == "[fe80::1]:1")
        #expect(CMAddress(host: "not-an-address", port: 1) == nil)
        #expect(CMAddress(host: "10.99.0.1", port: 7471) == v4)
    }

    @Test func workCompletionFromCStruct() {
        var wc = ibv_wc()
        wc.wr_id = 77
        wc.status = IBV_WC_SUCCESS
        wc.opcode = IBV_WC_RECV_RDMA_WITH_IMM
        wc.byte_len = 4096
        wc.wc_flags = IBV_WC_WITH_IMM.rawValue
        wc.imm_data = UInt32(0x0102_0304).bigEndian
        let completion = WorkCompletion(wc)
        #expect(completion.wrID == 77)
        #expect(completion.status.isSuccess)
        #expect(completion.opcode == .receiveRDMAWithImmediate)
        #expect(completion.byteLength == 4096)
        #expect(completion.immData == 0x0102_0304)

        wc.wc_flags = 0
        #expect(WorkCompletion(wc).immData == nil)
    }

    @Test func failedWorkCompletionBecomesTheNamedError() throws {
        let ok = WorkCompletion(wrID: 1, status: .success, opcode: .send)
        try ok.checked(peer: "w0")
        let failed = WorkCompletion(wrID: 5, status: .retryExceeded, opcode: .rdmaWrite)
        #expect(failed.status.description == "transport retry counter exceeded")
        #expect(throws: VerbsError.workCompletion(status: "transport retry counter exceeded", wrID: 5,
                                                  opcode: "RDMA_WRITE", peer: "aggregator leaf0")) {
            try failed.checked(peer: "aggregator leaf0")
        }
        #expect(WorkCompletion.Status.flushed.description == "Work Request Flushed Error")
    }

    @Test func connectionParametersReachTheCStruct() {
        let parameters = ConnectionParameters(privateData: [1, 2, 3], responderResources: 2, initiatorDepth: 3)
        parameters.withRaw { raw in
            #expect(raw.private_data_len == 3)
            #expect(raw.responder_resources == 2)
            #expect(raw.initiator_depth == 3)
            let bytes = UnsafeRawBufferPointer(start: raw.private_data, count: 3)
            #expect(Array(bytes) == [1, 2, 3])
        }
        ConnectionParameters().withRaw { raw in
            #expect(raw.private_data == nil)
            #expect(raw.private_data_len == 0)
        }
    }
}
