import Dispatch

/// A serial executor on a dispatch queue of its own: where an actor runs when its transport has
/// no event loop to lend it (in-process, RDMA).
final class QueueSerialExecutor: SerialExecutor, @unchecked Sendable {
    private let queue: DispatchQueue

    init(label: String) {
        queue = DispatchQueue(label: label)
    }

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        queue.async { job.runSynchronously(on: self.asUnownedSerialExecutor()) }
    }
}
