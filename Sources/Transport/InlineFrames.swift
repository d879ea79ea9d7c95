import Foundation
import TributaryCore

/// What a connection that delivers inline (`FrameConnection.deliverInline`) hands its handler.
public enum InlineDelivery: Sendable {
    case frame(Frame)
    /// The connection ended: nil when the peer closed it cleanly, else why it failed.
    case ended(Error?)
}

/// How a connection's frames stopped coming (`serveFrames`).
public enum FramesEnd: Sendable {
    /// The peer closed the connection cleanly.
    case closed
    /// The connection failed or the peer sent bytes that do not decode.
    case failed(Error)
    /// The frame handler said no more.
    case stopped
}

extension FrameConnection {
    /// Hands every frame of this connection, from where `inbound` stands onwards, to `onFrame` in
    /// order until the connection ends or `onFrame` returns false, and returns how it ended.
    /// Where the transport delivers inline, frames run on its thread (no hop through the stream or
    /// a task: the data path runs to completion); frames it had already put in `inbound` are
    /// handled first, and the ones it delivers meanwhile wait behind them. Elsewhere they run on
    /// this task. Cancelling the task closes the connection.
    public func serveFrames(after inbound: IteratorBox, _ onFrame: @escaping @Sendable (Frame) -> Bool) async
        -> FramesEnd {
        let reader = InlineReader(onFrame)
        let inline = deliverInline { reader.deliver($0) }
        do {
            while let frame = try await inbound.iterator.next() {
                if !onFrame(frame) { return .stopped }
            }
        } catch {
            return .failed(error)
        }
        guard inline else { return Task.isCancelled ? .stopped : .closed }
        reader.drained()
        return await withTaskCancellationHandler {
            await reader.end()
        } onCancel: {
            self.close()
        }
    }
}

/// Orders inline deliveries behind the frames still in the stream, and waits for the end.
final class InlineReader: @unchecked Sendable {
    private let lock = NSLock()
    private let onFrame: @Sendable (Frame) -> Bool
    /// The stream's frames are not all handled yet (or a batch of queued ones is being handled):
    /// deliveries queue.
    private var queueing = true
    private var queued: [InlineDelivery] = []
    private var ending: FramesEnd?
    private var waiter: CheckedContinuation<FramesEnd, Never>?

    init(_ onFrame: @escaping @Sendable (Frame) -> Bool) { self.onFrame = onFrame }

    /// On the transport's thread, one delivery at a time.
    func deliver(_ delivery: InlineDelivery) {
        let direct = lock.withLock { () -> Bool in
            guard ending == nil else { return false }
            if queueing { queued.append(delivery) }
            return !queueing
        }
        if direct { handle(delivery) }
    }

    /// Every frame the stream held is handled: the queued deliveries, then direct ones.
    func drained() {
        while true {
            let batch = lock.withLock { () -> [InlineDelivery] in
                let batch = queued
                queued = []
                if batch.isEmpty { queueing = false }
                return batch
            }
            if batch.isEmpty { return }
            for delivery in batch { handle(delivery) }
        }
    }

    func end() async -> FramesEnd {
        await withCheckedContinuation { continuation in
            let now = lock.withLock { () -> FramesEnd? in
                if let ending { return ending }
                waiter = continuation
                return nil
            }
            if let now { continuation.resume(returning: now) }
        }
    }

    private func handle(_ delivery: InlineDelivery) {
        guard lock.withLock({ ending == nil }) else { return }
        switch delivery {
        case .frame(let frame):
            if !onFrame(frame) { finish(.stopped) }
        case .ended(nil):
            finish(.closed)
        case .ended(let error?):
            finish(.failed(error))
        }
    }

    private func finish(_ end: FramesEnd) {
        let waiter = lock.withLock { () -> CheckedContinuation<FramesEnd, Never>? in
            guard ending == nil else { return nil }
            ending = end
            defer { self.waiter = nil }
            return self.waiter
        }
        waiter?.resume(returning: end)
    }
}
