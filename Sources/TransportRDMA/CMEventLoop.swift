import Foundation
import Verbs

/// One rdma_cm event channel and the dedicated thread that reads it (never a Swift concurrency
/// thread). Events are dispatched to the handler registered for the id they concern (for a connect
/// request: the listening id). The channel is non-blocking and watched with `poll(2)` and a short
/// timeout, so the thread notices `stopWhenIdle()` without needing an event.
///
/// A listener's accepted ids report to the listener's channel, so the loop outlives the listener
/// until every accepted connection has unregistered.
final class CMEventLoop: @unchecked Sendable {
    typealias Handler = @Sendable (CMEvent) -> Void

    let channel: EventChannel
    private let name: String
    private let lock = NSLock()
    private var handlers: [CMID.Identifier: Handler] = [:]
    private var stopping = false
    private var started = false

    init(name: String) throws(VerbsError) {
        channel = try EventChannel()
        channel.setNonBlocking()
        self.name = name
    }

    func register(_ id: CMID.Identifier, _ handler: @escaping Handler) {
        lock.withLock { handlers[id] = handler }
    }

    func unregister(_ id: CMID.Identifier) {
        _ = lock.withLock { handlers.removeValue(forKey: id) }
    }

    /// The thread exits once no handler is registered.
    func stopWhenIdle() {
        lock.withLock { stopping = true }
    }

    func start() {
        let go = lock.withLock { () -> Bool in
            if started { return false }
            started = true
            return true
        }
        guard go else { return }
        let thread = Thread { [self] in run() }
        thread.name = name
        thread.start()
    }

    private func run() {
        while true {
            if lock.withLock({ stopping && handlers.isEmpty }) { return }
            var descriptor = pollfd(fd: channel.fileDescriptor, events: Int16(POLLIN), revents: 0)
            _ = poll(&descriptor, 1, 50)
            while true {
                let next: (event: CMEvent, id: CMID.Identifier)?
                do {
                    next = try channel.pollEvent()
                } catch {
                    next = nil
                }
                guard let (event, source) = next else { break }
                let handler = lock.withLock { handlers[source] }
                handler?(event)
                // A connect request nobody handles: its id is dropped here, which rejects it.
            }
        }
    }
}
