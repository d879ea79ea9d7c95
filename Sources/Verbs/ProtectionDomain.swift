import CVerbs

/// A protection domain (`ibv_alloc_pd` / `ibv_dealloc_pd`): the scope in which memory regions and
/// queue pairs may see each other. Holds its `Context`; every memory region and queue pair made in
/// it holds the domain, so it is deallocated only after them.
/// `@unchecked Sendable`: immutable, and libibverbs calls are thread-safe.
public final class ProtectionDomain: @unchecked Sendable {
    let raw: UnsafeMutablePointer<ibv_pd>
    public let context: Context

    public init(context: Context) throws(VerbsError) {
        raw = try checkNonNull(ibv_alloc_pd(context.raw), VerbsError.allocPD)
        self.context = context
    }

    deinit {
        ibv_dealloc_pd(raw)
    }
}
