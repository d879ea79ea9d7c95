import NIOCore

/// Runs Swift tasks on a NIO event loop. A worker's operation sends frames and awaits results;
/// on the global pool each send hops onto the event loop (an eventfd wake-up) and each result
/// hops back (a futex wake-up) — for a small allreduce, most of a worker's CPU time. Run on the
/// loop that does the connections' I/O, a send is written at once and a result resumes the
/// operation in the same turn of the loop. (Newer NIO versions ship the same as
/// `EventLoop.taskExecutor`; the one this package resolves does not.)
final class EventLoopTaskExecutor: TaskExecutor {
    let loop: any EventLoop

    init(_ loop: any EventLoop) {
        self.loop = loop
    }

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        loop.execute { job.runSynchronously(on: self.asUnownedTaskExecutor()) }
    }
}
