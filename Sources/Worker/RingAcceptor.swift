import Authentication
import Foundation
import Logging
import Transport
import TributaryCore

/// The job's data key, once the assignment brings it. Ring connections accepted before then wait
/// here; a join that fails closes the gate and they are dropped.
actor KeyGate {
    private var opened: (job: UInt32, key: AuthKey)?
    private var closed = false
    private var waiters: [CheckedContinuation<(job: UInt32, key: AuthKey)?, Never>] = []

    func open(job: UInt32, key: AuthKey) {
        opened = (job, key)
        for waiter in waiters { waiter.resume(returning: opened) }
        waiters.removeAll()
    }

    func close() {
        closed = true
        for waiter in waiters { waiter.resume(returning: nil) }
        waiters.removeAll()
    }

    /// The job and its key, or nil once the gate is closed.
    func wait() async -> (job: UInt32, key: AuthKey)? {
        if let opened { return opened }
        if closed { return nil }
        return await withCheckedContinuation { waiters.append($0) }
    }
}

extension Communicator {
    /// Connections that may wait at the gate at once; a stranger cannot make a rank hold more.
    static let pendingRingLimit = 8

    /// Accepts the ring predecessor on `listener`: every connection must prove the job's data key
    /// as rank `predecessor`; the first that does becomes the ring's incoming link (announced as
    /// `.ringAccepted`) and the listener closes, so nobody can take its place afterwards.
    static func acceptRingPredecessor(_ listener: any FrameListener, rank: Int, predecessor: Int, gate: KeyGate,
                                      timeout: Duration, logger: Logger,
                                      continuation: AsyncStream<Event>.Continuation) -> Task<Void, Never> {
        Task {
            let pending = ManagedCounter()
            await withTaskGroup(of: Void.self) { group in
                for await connection in listener.connections {
                    guard pending.increment() <= pendingRingLimit else {
                        pending.decrement()
                        let peer = connection.peer
                        logger.warning("rank \(rank): closing ring connection from \(peer): \(pendingRingLimit) still pending")
                        connection.close()
                        continue
                    }
                    group.addTask {
                        defer { pending.decrement() }
                        guard let (job, key) = await gate.wait() else {
                            connection.close()
                            return
                        }
                        var inbound = connection.inbound.makeAsyncIterator()
                        do {
                            _ = try await Handshake.accept(connection, inbound: &inbound, as: "rank \(rank)",
                                                           timeout: timeout) { hello throws(Handshake.Refusal) in
                                guard hello.job == job, hello.childIndex == predecessor else {
                                    throw Handshake.Refusal(.protocolViolation,
                                                            "ring hello from \(hello.name) is not job \(job) "
                                                                + "rank \(predecessor)")
                                }
                                return key
                            }
                        } catch {
                            logger.warning("rank \(rank): refused ring connection from \(connection.peer): \(error)")
                            return
                        }
                        continuation.yield(.ringAccepted(connection, IteratorBox(inbound)))
                        await listener.close()
                    }
                }
            }
        }
    }
}

/// A counter shared by the accepting task and the handshakes it starts.
final class ManagedCounter: @unchecked Sendable {
    private let lock = NSLock()
    private var value = 0

    @discardableResult
    func increment() -> Int { lock.withLock { value += 1; return value } }
    func decrement() { lock.withLock { value -= 1 } }
}
