#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

// The three error conventions of libibverbs and librdmacm (see their man pages), one helper each.
// Every raw call in this module goes through one of them, so a failure always becomes the one
// `VerbsError` case named for that call, carrying the errno:
//
//   try check(ibv_modify_qp(qp, &attr, mask)) { .modifyQP(state: "RTR", errno: $0) }   // returns the errno
//   let pd = try checkNonNull(ibv_alloc_pd(context), VerbsError.allocPD)              // NULL + errno
//   let n = try checkNonNegative(VerbsError.pollCQ) { ibv_poll_cq(cq, 16, wcs) }       // < 0 (+ errno)

/// Convention 1: the call returns 0 on success and the errno itself on failure (`ibv_modify_qp`,
/// `ibv_post_send`, `ibv_post_recv`, `ibv_query_device`, `ibv_req_notify_cq`, …).
///
/// Some providers return -1 and set errno instead, or return a negated errno; both are understood.
@inline(__always)
func check(_ result: Int32, _ error: (Int32) -> VerbsError) throws(VerbsError) {
    guard result != 0 else { return }
    let code: Int32
    if result > 0 {
        code = result
    } else if result == -1 {
        code = errno != 0 ? errno : EIO
    } else {
        code = -result
    }
    throw error(code)
}

/// Convention 2: the call returns a pointer, NULL on failure with errno set (`ibv_open_device`,
/// `ibv_alloc_pd`, `ibv_reg_mr`, `ibv_create_cq`, `ibv_create_qp`, `rdma_create_event_channel`, …).
///
/// Reads errno immediately, so pass the call itself as the argument.
@inline(__always)
func checkNonNull<Pointer>(_ result: Pointer?, _ error: (Int32) -> VerbsError) throws(VerbsError) -> Pointer {
    guard let result else { throw error(errno != 0 ? errno : EIO) }
    return result
}

/// Convention 3: the call returns a non-negative value on success and a negative one on failure:
/// `ibv_poll_cq` (< 0), and the rdma_* calls and `ibv_get_cq_event` (-1 with errno set).
///
/// errno is cleared before each attempt; when the call fails without setting it, the negated result
/// is taken as the errno if it looks like one, else EIO. With `retryingInterrupts`, a failure with
/// EINTR (a signal arrived during a blocking read of the channel's fd) is retried, as swift-system's
/// `valueOrErrno(retryOnInterrupt:)` does.
@inline(__always)
@discardableResult
func checkNonNegative(
    _ error: (Int32) -> VerbsError, retryingInterrupts: Bool = false, _ call: () -> Int32
) throws(VerbsError) -> Int32 {
    while true {
        errno = 0
        let result = call()
        if result >= 0 { return result }
        let code: Int32 = errno != 0 ? errno : (result < -1 ? -result : EIO)
        if retryingInterrupts && code == EINTR { continue }
        throw error(code)
    }
}
