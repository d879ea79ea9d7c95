#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Testing
@testable import Verbs

@Suite struct VerbsErrorTests {
    @Test func descriptionNamesTheCallTheContextAndTheErrno() {
        let error = VerbsError.modifyQP(state: "RTR", errno: EINVAL)
        #expect(error.description == "ibv_modify_qp failed (moving the queue pair to RTR): Invalid argument (errno 22)")
        #expect(error.errorNumber == EINVAL)
        #expect(error.function == "ibv_modify_qp")
    }

    @Test func noSuchFunctionIsSaidInWords() {
        let error = VerbsError.getDeviceList(errno: ENOSYS)
        #expect(error.description == "ibv_get_device_list failed: Function not implemented (errno 38)")
    }

    @Test func registrationFailureHintsAtMemlock() {
        #expect(VerbsError.regMR(bytes: 1 << 20, errno: ENOMEM).description.contains("RLIMIT_MEMLOCK"))
        #expect(!VerbsError.regMR(bytes: 1 << 20, errno: EINVAL).description.contains("RLIMIT_MEMLOCK"))
    }

    @Test func workCompletionErrorReadsLikeTheStatus() {
        let error = VerbsError.workCompletion(status: "transport retry counter exceeded", wrID: 9,
                                              opcode: "RDMA_WRITE", peer: "aggregator leaf0")
        #expect(error.description
            == "work request 9 (RDMA_WRITE) with aggregator leaf0 completed with error: transport retry counter exceeded")
        #expect(error.errorNumber == nil)
    }

    @Test func unexpectedCMEventSaysWhatCameInstead() {
        let error = VerbsError.unexpectedCMEvent(expected: "ESTABLISHED", got: "UNREACHABLE", status: -ETIMEDOUT)
        #expect(error.description == "rdma_cm: expected ESTABLISHED but got UNREACHABLE: Connection timed out (errno 110)")
        let rejected = VerbsError.unexpectedCMEvent(expected: "ESTABLISHED", got: "REJECTED", status: 28)
        #expect(rejected.description == "rdma_cm: expected ESTABLISHED but got REJECTED (status 28)")
    }

    @Test func everyErrnoCaseReportsItsErrno() {
        let cases: [VerbsError] = [
            .getDeviceList(errno: 1), .openDevice(name: "x", errno: 1), .queryDevice(errno: 1),
            .queryPort(port: 1, errno: 1), .queryGID(port: 1, index: 0, errno: 1), .allocPD(errno: 1),
            .regMR(bytes: 1, errno: 1), .createCompChannel(errno: 1), .createCQ(entries: 1, errno: 1),
            .reqNotifyCQ(errno: 1), .getCQEvent(errno: 1), .createQP(errno: 1), .modifyQP(state: "INIT", errno: 1),
            .postSend(wrID: 1, errno: 1), .postRecv(wrID: 1, errno: 1), .pollCQ(errno: 1),
            .createEventChannel(errno: 1), .createID(errno: 1), .resolveAddr(destination: "x", errno: 1),
            .resolveRoute(errno: 1), .connect(errno: 1), .accept(errno: 1), .listen(errno: 1),
            .bind(address: "x", errno: 1), .getCMEvent(expected: "any", errno: 1), .ackCMEvent(errno: 1),
            .disconnect(errno: 1),
        ]
        for error in cases {
            #expect(error.errorNumber == 1, "\(error)")
            #expect(error.description.hasPrefix(error.function + " failed"), "\(error)")
        }
    }
}
