#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import CVerbs

/// A completion queue (`ibv_create_cq` / `ibv_destroy_cq`): where the device reports finished work
/// requests. Polled without blocking (`poll(into:)`), or armed with `requestNotify()` so its
/// `CompletionChannel`'s fd wakes a sleeping poller.
///
/// Holds its `Context` (and channel, if any); queue pairs using it hold the queue, so it is destroyed
/// after them. `@unchecked Sendable`: immutable, and libibverbs calls are thread-safe; two tasks may
/// poll the same queue, though each completion goes to only one of them.
public final class CompletionQueue: @unchecked Sendable {
    /// Identifies a completion queue in a `CompletionChannel` event.
    public struct Handle: Hashable, Sendable {
        let bits: UInt
        init(_ raw: UnsafeMutablePointer<ibv_cq>) { bits = UInt(bitPattern: raw) }
    }

    let raw: UnsafeMutablePointer<ibv_cq>
    public let context: Context
    public let channel: CompletionChannel?
    /// The number of entries the device actually gave the queue (at least the number asked for).
    public let capacity: Int

    /// A queue of at least `entries` completions on `context`, reporting to `channel` when armed.
    public init(context: Context, entries: Int, channel: CompletionChannel? = nil,
                completionVector: Int32 = 0) throws(VerbsError) {
        raw = try checkNonNull(ibv_create_cq(context.raw, Int32(entries), nil, channel?.raw, completionVector)) {
            .createCQ(entries: entries, errno: $0)
        }
        self.context = context
        self.channel = channel
        capacity = Int(raw.pointee.cqe)
    }

    deinit {
        ibv_destroy_cq(raw)
    }

    public var handle: Handle { Handle(raw) }

    /// Arms the queue (`ibv_req_notify_cq`): the next completion (or the next solicited one) makes the
    /// channel's fd readable. One notification per call; re-arm after each event, then poll again to
    /// catch completions that arrived in between.
    public func requestNotify(solicitedOnly: Bool = false) throws(VerbsError) {
        try check(ibv_req_notify_cq(raw, solicitedOnly ? 1 : 0), VerbsError.reqNotifyCQ)
    }

    /// Takes up to `maximum` completions off the queue without blocking (`ibv_poll_cq`) and appends
    /// them to `completions`; returns how many were taken (0 when the queue is empty).
    ///
    /// Completions with an error status are returned like any other: check `status`, or call
    /// `WorkCompletion.checked(peer:)` to turn one into `VerbsError.workCompletion`.
    @discardableResult
    public func poll(into completions: inout [WorkCompletion], maximum: Int = 16) throws(VerbsError) -> Int {
        precondition(maximum > 0, "poll needs room for at least one completion")
        let raw = self.raw
        let taken = try checkNonNegative(VerbsError.pollCQ) {
            withUnsafeTemporaryAllocation(of: ibv_wc.self, capacity: maximum) { wcs in
                let result = ibv_poll_cq(raw, Int32(maximum), wcs.baseAddress)
                if result > 0 {
                    completions.reserveCapacity(completions.count + Int(result))
                    for index in 0..<Int(result) {
                        completions.append(WorkCompletion(wcs[index]))
                    }
                }
                return result
            }
        }
        return Int(taken)
    }
}
