#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Testing
@testable import Verbs

/// The three C error conventions, fed fake C results: each becomes the named case with the errno.
@Suite struct CheckTests {
    // Convention 1: the return value is the errno.

    @Test func errnoReturningSuccessDoesNotThrow() throws {
        try check(Int32(0)) { .modifyQP(state: "RTR", errno: $0) }
    }

    @Test func errnoReturningFailureCarriesTheReturnedErrno() {
        #expect(throws: VerbsError.modifyQP(state: "RTR", errno: EINVAL)) {
            try check(EINVAL) { .modifyQP(state: "RTR", errno: $0) }
        }
        #expect(throws: VerbsError.postSend(wrID: 7, errno: ENOMEM)) {
            try check(ENOMEM) { .postSend(wrID: 7, errno: $0) }
        }
    }

    @Test func errnoReturningMinusOneReadsErrno() {
        errno = EPERM
        #expect(throws: VerbsError.queryDevice(errno: EPERM)) {
            try check(Int32(-1), VerbsError.queryDevice)
        }
    }

    @Test func errnoReturningNegatedErrnoIsUnderstood() {
        #expect(throws: VerbsError.postRecv(wrID: 3, errno: ENOMEM)) {
            try check(-ENOMEM) { .postRecv(wrID: 3, errno: $0) }
        }
    }

    // Convention 2: NULL with errno set.

    @Test func nullWithErrnoThrowsTheErrno() {
        let fakeNull: OpaquePointer? = nil
        errno = ENOMEM
        #expect(throws: VerbsError.regMR(bytes: 4096, errno: ENOMEM)) {
            _ = try checkNonNull(fakeNull) { .regMR(bytes: 4096, errno: $0) }
        }
        errno = ENODEV
        #expect(throws: VerbsError.openDevice(name: "rxe0", errno: ENODEV)) {
            _ = try checkNonNull(fakeNull) { .openDevice(name: "rxe0", errno: $0) }
        }
    }

    @Test func nonNullPointerIsReturned() throws {
        var value = 42
        let pointer: UnsafeMutablePointer<Int>? = withUnsafeMutablePointer(to: &value) { $0 }
        let checked = try checkNonNull(pointer, VerbsError.allocPD)
        #expect(checked == pointer)
    }

    @Test func nullWithoutErrnoIsEIO() {
        let fakeNull: OpaquePointer? = nil
        errno = 0
        #expect(throws: VerbsError.createCQ(entries: 16, errno: EIO)) {
            _ = try checkNonNull(fakeNull) { .createCQ(entries: 16, errno: $0) }
        }
    }

    // Convention 3: negative return (rdma_*: -1 + errno; ibv_poll_cq: < 0).

    @Test func nonNegativeResultIsReturned() throws {
        #expect(try checkNonNegative(VerbsError.pollCQ) { 3 } == 3)
        #expect(try checkNonNegative(VerbsError.pollCQ) { 0 } == 0)
    }

    @Test func minusOneWithErrnoThrowsTheErrno() {
        #expect(throws: VerbsError.resolveRoute(errno: ETIMEDOUT)) {
            try checkNonNegative(VerbsError.resolveRoute) {
                errno = ETIMEDOUT
                return -1
            }
        }
        #expect(throws: VerbsError.bind(address: "10.99.0.1:0", errno: EADDRNOTAVAIL)) {
            try checkNonNegative({ .bind(address: "10.99.0.1:0", errno: $0) }) {
                errno = EADDRNOTAVAIL
                return -1
            }
        }
    }

    @Test func negativeWithoutErrnoIsTheNegatedResult() {
        // ibv_poll_cq may return a negative errno without setting errno; a stale errno must not leak in.
        errno = EACCES
        #expect(throws: VerbsError.pollCQ(errno: EINVAL)) {
            try checkNonNegative(VerbsError.pollCQ) { -EINVAL }
        }
        #expect(throws: VerbsError.pollCQ(errno: EIO)) {
            try checkNonNegative(VerbsError.pollCQ) { -1 }
        }
    }

    @Test func interruptedCallIsRetriedWhenAsked() throws {
        var calls = 0
        let result = try checkNonNegative({ .getCMEvent(expected: "any", errno: $0) }, retryingInterrupts: true) {
            calls += 1
            if calls < 3 {
                errno = EINTR
                return -1
            }
            return 0
        }
        #expect(result == 0)
        #expect(calls == 3)
    }

    @Test func interruptedCallIsNotRetriedUnlessAsked() {
        var calls = 0
        #expect(throws: VerbsError.connect(errno: EINTR)) {
            try checkNonNegative(VerbsError.connect) {
                calls += 1
                errno = EINTR
                return -1
            }
        }
        #expect(calls == 1)
    }

    @Test func otherErrorsAreNotRetried() {
        var calls = 0
        #expect(throws: VerbsError.getCQEvent(errno: EAGAIN)) {
            try checkNonNegative(VerbsError.getCQEvent, retryingInterrupts: true) {
                calls += 1
                errno = EAGAIN
                return -1
            }
        }
        #expect(calls == 1)
    }
}
