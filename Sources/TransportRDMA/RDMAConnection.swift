import Foundation
import Transport
import TributaryCore
import Verbs

/// One RC queue pair carrying the frame byte stream as SEND pieces into the peer's pre-posted
/// receive buffers.
///
/// **Pieces.** Every SEND is `credits u32 LE | stream bytes`: the 4-byte prefix returns receive
/// credits to the peer, the rest is the next slice of the encoded frame stream (frames are encoded
/// once, straight into registered send buffers; small frames share a piece, large ones span many).
/// The receiver feeds each completion's stream bytes to its `FrameParser` — the same parser as TCP,
/// so framing, placement and every malformed-input check carry over — and reposts the buffer.
///
/// **Placement.** With `.send` each piece lands in whichever receive the peer posted next. With
/// `.writeWithImmediate` the sender places piece *k* itself, by RDMA WRITE, in buffer *k mod n*
/// of the peer's registered receive ring (address and rkey from the handshake) and the immediate
/// names the buffer; the write consumes one posted receive only to raise the completion. Credits
/// make the slot free: piece *k* needs a credit, which comes back only after piece *k − n* was
/// parsed. Both arrive through the same `FrameParser`; the receiver handles either opcode, and each
/// side picks its own (`Configuration.operation`).
///
/// **Registered caller memory.** A chunk whose payload lies in a buffer the caller registered
/// (`register`, kept in `registrations`) is not copied: its piece is two scatter/gather elements,
/// the credit prefix and frame header from a send buffer and the payload where it is. Such a piece
/// takes nothing after it, and `waitForSends` waits for the last one. Other payloads are copied
/// once into registered send buffers.
///
/// **Credits** (`CreditWindow`): how many receives the peer has posted that we have not consumed:
/// the peer's receive count at first (from the handshake), one less per piece, plus what each
/// incoming piece's prefix returns. The last credit goes only to a piece that returns at least
/// half our receives — a staged data piece if there is one, else a credit-only piece (prefix
/// only), sent when half our receive buffers were reposted without a piece going the other way to
/// carry the count. This cannot deadlock (proven by simulation in `CreditWindowTests`), and pieces
/// never meet an empty receive queue: RNR retry is only a backstop. Pieces that cannot go yet
/// wait, staged in send buffers or queued as bytes, and leave when credits or send buffers come
/// back; `send` never blocks.
///
/// **Threads.** Sends run on the caller's thread under `lock`. A dedicated thread per connection
/// waits on the completion channel (`poll` with a short timeout, so deadlines need no event),
/// polls the CQ dry, re-arms it, parses receives, reposts them, frees send buffers and sends what
/// waited. `inbound` is yielded to and finished only on that thread, so frames and the end of the
/// stream stay in order. CM events (DISCONNECTED) arrive on the CM thread and only set flags.
///
/// **Ends.** `close()` sends what is queued, then `rdma_disconnect`s; DISCONNECTED (either side)
/// moves the QP to ERR, the receives flush after the data that arrived, and `inbound` finishes
/// (an error if a frame was cut short). A peer that vanishes without a disconnect is caught by a
/// watchdog: SENDs unacknowledged for `peerTimeout` end the connection with `connectionLost`, and
/// an idle connection sends an empty keepalive piece every `keepaliveInterval` so that holds when
/// nothing else is sent. Pieces that wait `peerTimeout` for credits end it too (a peer whose queue
/// pair is up but which stopped reposting receives). Error completions end it with
/// `connectionLost` naming the work request.
final class RDMAConnection: FrameConnection, @unchecked Sendable {
    static let creditPrefix = 4
    private static let receiveTag: UInt64 = 1 << 32

    let peer: String
    let inbound: AsyncThrowingStream<Frame, Error>
    private let continuation: AsyncThrowingStream<Frame, Error>.Continuation
    private let localName: String
    private let configuration: RDMATransport.Configuration

    // Verbs objects (ownership in Verbs orders their destruction).
    let id: CMID
    private let cmLoop: CMEventLoop
    private let completionChannel: CompletionChannel
    private let cq: CompletionQueue
    private let qp: QueuePair
    private let receiveRegion: MemoryRegion
    private let sendRegion: MemoryRegion
    /// The caller's registered buffers (same protection domain as the queue pair).
    let registrations: RegistrationCache
    private let receiveSize: Int
    private let sendSize: Int

    // Completion thread only.
    private var parser: FrameParser
    private var rejected = false
    private let placement = PlacementBox()

    // Under `lock`.
    private let lock = NSLock()
    private var window: CreditWindow
    private var pieceCapacity = 0
    private var freeSend: [Int]
    private var sendLength: [Int]
    /// The caller's bytes a staged or posted piece sends after its own buffer's (zero-copy).
    private var extraSegment: [MemoryRegion.Segment?]
    /// The latest piece that sends from the caller's memory, until it completes.
    private var lastZeroCopyIndex: Int?
    /// Chunks sent from registered caller memory without a copy (tests check the path is taken).
    private(set) var zeroCopyChunks = 0
    private var staged: [Int] = []
    private var pending: [Pending] = []
    private var pendingHead = 0
    private var waiters: [Int: [CheckedContinuation<Void, Error>]] = [:]
    private var postedSends = 0
    private var postedReceives = 0
    private var established = false
    private var acceptingSends = false
    private var closeRequested = false
    private var closeDeadline: ContinuousClock.Instant?
    private var disconnectCalled = false
    private var disconnectedAt: ContinuousClock.Instant?
    private var peerDisconnected = false
    private var flushSeenAt: ContinuousClock.Instant?
    private var deathReason: TransportError?
    private var inboundFinished = false
    private var finishedAt: ContinuousClock.Instant?
    private var lastPostAt = ContinuousClock.now
    /// The last time a posted SEND completed (or the first was posted when none was out).
    private var lastSendProgress = ContinuousClock.now
    /// Since when staged pieces have waited for credits the peer has not returned (nil: none wait).
    private var creditWaitSince: ContinuousClock.Instant?
    /// Test hook: receives are not reposted, as if the peer's completion thread hung.
    private var holdingReceives = false
    /// The peer's receive ring (for `.writeWithImmediate`) and the next buffer in it to write.
    private var remoteRing = RemoteBuffer(address: 0, rkey: 0)
    private var remoteSlots = 1
    private var remoteSlotSize = 0
    private var nextRemoteSlot = 0

    private struct Pending {
        var bytes: [UInt8]
        var offset: Int
        var waiter: CheckedContinuation<Void, Error>?
    }

    /// Creates the PD, completion channel, CQ, QP and buffers on `id` (bound to a device) and posts
    /// every receive. Runs on a CM thread.
    init(id: CMID, cmLoop: CMEventLoop, peer: String, localName: String,
         configuration: RDMATransport.Configuration) throws(VerbsError) {
        guard let context = id.context else { throw .noDevice("the CM id for \(peer) is not bound to a device") }
        self.id = id
        self.cmLoop = cmLoop
        self.peer = peer
        self.localName = localName
        self.configuration = configuration
        receiveSize = configuration.receiveBufferSize
        sendSize = configuration.sendBufferSize
        let pd = try context.allocateProtectionDomain()
        registrations = RegistrationCache(protectionDomain: pd)
        completionChannel = try CompletionChannel(context: context)
        let receives = configuration.receiveBufferCount
        let sends = configuration.sendBufferCount
        cq = try CompletionQueue(context: context, entries: receives + sends + 16, channel: completionChannel)
        qp = try id.createQP(pd: pd, cq: cq, capabilities: QueuePair.Capabilities(
            maxSendWR: sends + 4, maxRecvWR: receives + 4, maxSendSGE: 2, maxRecvSGE: 1))
        // Remote write: a peer using `.writeWithImmediate` places pieces in the ring itself.
        receiveRegion = try MemoryRegion(protectionDomain: pd, allocating: receives * receiveSize,
                                         access: [.localWrite, .remoteWrite])
        sendRegion = try MemoryRegion(protectionDomain: pd, allocating: sends * sendSize, access: .localWrite)
        freeSend = Array((0..<sends).reversed())
        sendLength = [Int](repeating: 0, count: sends)
        extraSegment = [MemoryRegion.Segment?](repeating: nil, count: sends)
        window = CreditWindow(peerReceives: 0, ownReceives: receives)
        parser = FrameParser(maxBody: configuration.maxBody)
        (inbound, continuation) = AsyncThrowingStream<Frame, Error>.makeStream()
        for index in 0..<receives {
            try qp.postRecv(wrID: Self.receiveTag | UInt64(index),
                            segment: receiveRegion.segment(offset: index * receiveSize, length: receiveSize))
        }
        postedReceives = receives
    }

    var handshake: Handshake {
        Handshake(receiveCount: configuration.receiveBufferCount, receiveSize: receiveSize,
                  ring: receiveRegion.remote())
    }

    /// The connection is up: learn the peer's receives and start the completion thread.
    func establish(peer remote: Handshake) {
        lock.withLock {
            window = CreditWindow(peerReceives: remote.receiveCount, ownReceives: configuration.receiveBufferCount)
            pieceCapacity = min(sendSize, remote.receiveSize)
            remoteRing = remote.ring
            remoteSlots = remote.receiveCount
            remoteSlotSize = remote.receiveSize
            established = true
            acceptingSends = true
        }
        let thread = Thread { [self] in runCompletions() }
        thread.name = "rdma-cq \(peer)"
        thread.start()
    }

    /// CM events for this connection's id (on the CM thread).
    func handle(_ event: CMEvent) {
        switch event {
        case .disconnected:
            lock.withLock { peerDisconnected = true }
            disconnect()
        case .deviceRemoval:
            lock.withLock {
                if deathReason == nil {
                    deathReason = .connectionLost(peer: peer, reason: "the RDMA device was removed")
                }
                peerDisconnected = true
            }
            disconnect()
        default:
            break
        }
    }

    // MARK: Sending

    func send(_ frame: Frame) {
        switch frame {
        case .chunk(let header, let payload):
            payload.withUnsafeBytes { sendChunk(header, payload: $0) }
        case .control:
            enqueue(WireFormat.encode(frame), waiter: nil)
        }
    }

    func send(_ frame: SharedFrame) {
        enqueue(frame.encoding { WireFormat.encode(frame.frame) }, waiter: nil)
    }

    func sendChunk(_ header: ChunkHeader, payload: UnsafeRawBufferPointer) {
        let prefixSize = WireFormat.preambleSize + ChunkHeader.encodedSize
        let registered = payload.count >= configuration.zeroCopyThreshold ? registrations.segment(covering: payload) : nil
        withUnsafeTemporaryAllocation(byteCount: prefixSize, alignment: 8) { prefix in
            WireFormat.writeChunkPrefix(header, to: prefix)
            lock.withLock {
                guard acceptingSends else { return }
                if let registered, stageZeroCopy(prefix: UnsafeRawBufferPointer(prefix), payload: registered) {
                    pump()
                    return
                }
                // Straight from the caller's memory into registered send buffers while there is room
                // and nothing is queued ahead; the rest is copied once into the queue.
                var direct = pendingHead == pending.count
                var leftover: [UInt8] = []
                for part in [UnsafeRawBufferPointer(prefix), payload] where part.count > 0 {
                    var done = 0
                    if direct {
                        done = fill(part)
                        direct = done == part.count
                    }
                    if done < part.count {
                        if leftover.isEmpty { leftover.reserveCapacity(prefixSize + payload.count) }
                        leftover.append(contentsOf: UnsafeRawBufferPointer(rebasing: part[done...]))
                    }
                }
                if !leftover.isEmpty { pending.append(Pending(bytes: leftover, offset: 0, waiter: nil)) }
                pump()
            }
        }
    }

    func register(_ buffer: UnsafeRawBufferPointer) throws -> Bool {
        do {
            try registrations.register(buffer)
        } catch {
            throw TransportError.connectionLost(peer: peer, reason: "cannot register \(buffer.count) bytes: \(error)")
        }
        return true
    }

    func deregister(_ buffer: UnsafeRawBufferPointer) {
        registrations.deregister(buffer)
    }

    func waitForSends() async throws {
        try await withCheckedThrowingContinuation { (waiter: CheckedContinuation<Void, Error>) in
            let outcome = lock.withLock { () -> TransportError?? in
                guard let index = lastZeroCopyIndex else { return .some(nil) }
                if let reason = deathReason { return .some(reason) }
                waiters[index, default: []].append(waiter)
                return .none
            }
            switch outcome {
            case .some(nil): waiter.resume()
            case .some(let error?): waiter.resume(throwing: error)
            case .none: break
            }
        }
    }

    func setPlacement(_ placement: (@Sendable (ChunkHeader) -> UnsafeMutableRawPointer?)?) {
        self.placement.current = placement
    }

    func sendAndWait(_ frame: Frame) async throws {
        let bytes = WireFormat.encode(frame)
        try await withCheckedThrowingContinuation { (waiter: CheckedContinuation<Void, Error>) in
            enqueue(bytes, waiter: waiter)
        }
    }

    /// Sends what is queued, then disconnects (at most `closeTimeout` later); `inbound` finishes.
    func close() {
        let now = lock.withLock { () -> Bool in
            guard !closeRequested else { return false }
            closeRequested = true
            acceptingSends = false
            closeDeadline = .now + configuration.closeTimeout
            if !established { return true }
            return isDrained
        }
        if now { disconnect() }
    }

    /// Queues already encoded bytes (shared, not copied) behind earlier ones.
    private func enqueue(_ bytes: [UInt8], waiter: CheckedContinuation<Void, Error>?) {
        let refused: TransportError? = lock.withLock {
            guard acceptingSends else { return deathReason ?? .closed(peer: peer) }
            pending.append(Pending(bytes: bytes, offset: 0, waiter: waiter))
            pump()
            return nil
        }
        if let refused { waiter?.resume(throwing: refused) }
    }

    /// Test hook: raw bytes as if they were frames (for the malformed-input tests).
    func sendRawBytes(_ bytes: [UInt8]) {
        enqueue(bytes, waiter: nil)
    }

    /// Test hook: the process "disappears": the QP goes to ERR without a disconnect request, so the
    /// peer hears nothing until its own sends fail; this side stops.
    func vanish() {
        lock.withLock {
            acceptingSends = false
            disconnectCalled = true
            disconnectedAt = .now
            deathReason = .closed(peer: peer)
        }
        do {
            try qp.moveToError()
        } catch {
            print("vanish: \(error)")
        }
    }

    /// Test hook: the peer's receive ring key as if the peer had deregistered it; the next WRITE
    /// with immediate fails with a remote access error (a queue pair error).
    func corruptRemoteKey() {
        lock.withLock { remoteRing.rkey ^= 0x5A5A_5A5A }
    }

    /// Test hook: stop reposting receives (so no credits go back), as a peer whose process hangs
    /// while its queue pair stays up.
    func holdReceives() {
        lock.withLock { holdingReceives = true }
    }

    /// For tests and logs: the flow-control state.
    var debugState: String {
        lock.withLock {
            "credits \(window.credits), posted sends \(postedSends), posted receives \(postedReceives), staged \(staged.count), "
                + "queued \(pending.count - pendingHead), owed \(window.owed), disconnect \(disconnectCalled), "
                + "peer disconnected \(peerDisconnected), finished \(inboundFinished), qp \(qp.state)"
        }
    }

    private var isDrained: Bool { pendingHead == pending.count && staged.isEmpty && postedSends == 0 }

    /// Copies `source` into staged send buffers (the unposted tail first, then free ones); returns
    /// how many bytes fit. Lock held.
    private func fill(_ source: UnsafeRawBufferPointer) -> Int {
        var done = 0
        let base = sendRegion.buffer.baseAddress!
        while done < source.count {
            let index: Int
            if let last = staged.last, sendLength[last] < pieceCapacity, extraSegment[last] == nil {
                index = last
            } else if let free = freeSend.popLast() {
                index = free
                sendLength[index] = Self.creditPrefix
                staged.append(index)
            } else {
                break
            }
            let take = min(pieceCapacity - sendLength[index], source.count - done)
            (base + index * sendSize + sendLength[index]).copyMemory(from: source.baseAddress! + done, byteCount: take)
            sendLength[index] += take
            done += take
        }
        return done
    }

    /// Stages a chunk whose payload is registered: the frame prefix goes into send buffers like any
    /// bytes, the payload rides as the second element of as many pieces as it needs. False (nothing
    /// staged) when bytes are queued ahead, the connection is not up, or send buffers are short.
    /// Lock held.
    private func stageZeroCopy(prefix: UnsafeRawBufferPointer, payload: MemoryRegion.Segment) -> Bool {
        guard established, pendingHead == pending.count, pieceCapacity > Self.creditPrefix + prefix.count else {
            return false
        }
        let perPiece = pieceCapacity - Self.creditPrefix
        guard freeSend.count >= 2 + (prefix.count + payload.length) / perPiece else { return false }
        guard fill(prefix) == prefix.count, var index = staged.last else { return false }
        var offset = 0
        while offset < payload.length {
            if sendLength[index] >= pieceCapacity || extraSegment[index] != nil {
                index = freeSend.popLast()!
                sendLength[index] = Self.creditPrefix
                staged.append(index)
            }
            let take = min(pieceCapacity - sendLength[index], payload.length - offset)
            extraSegment[index] = payload.region.segment(offset: payload.offset + offset, length: take)
            sendLength[index] += take
            offset += take
        }
        lastZeroCopyIndex = index
        zeroCopyChunks += 1
        return true
    }

    /// A send buffer is free again (its piece completed or was never posted). Lock held.
    private func release(_ index: Int) {
        extraSegment[index] = nil
        if lastZeroCopyIndex == index { lastZeroCopyIndex = nil }
        freeSend.append(index)
    }

    /// Moves queued bytes into send buffers and posts what credits allow. Lock held.
    private func pump() {
        guard established, deathReason == nil, !disconnectCalled else { return }
        while pendingHead < pending.count {
            let item = pending[pendingHead]
            let done = item.bytes.withUnsafeBytes { fill(UnsafeRawBufferPointer(rebasing: $0[item.offset...])) }
            pending[pendingHead].offset += done
            guard pending[pendingHead].offset == item.bytes.count else { break }
            if let waiter = item.waiter, let last = staged.last { waiters[last, default: []].append(waiter) }
            pending[pendingHead] = Pending(bytes: [], offset: 0, waiter: nil)
            pendingHead += 1
        }
        if pendingHead == pending.count {
            pending.removeAll(keepingCapacity: true)
            pendingHead = 0
        } else if pendingHead > 64 && pendingHead * 2 > pending.count {
            pending.removeFirst(pendingHead)
            pendingHead = 0
        }
        // The last credit goes only to a piece that returns credits (CreditWindow has the why).
        let plan = window.plan(staged: staged.count, freeBuffers: freeSend.count)
        for _ in 0..<plan.dataPieces where !disconnectCalled && deathReason == nil {
            post(staged.removeFirst())
        }
        if plan.creditOnly && !disconnectCalled && deathReason == nil, let free = freeSend.popLast() {
            sendLength[free] = Self.creditPrefix
            post(free)
        }
        if staged.isEmpty {
            creditWaitSince = nil
        } else if creditWaitSince == nil {
            creditWaitSince = .now
        }
    }

    /// Posts staged buffer `index` with the credits owed so far. Lock held.
    private func post(_ index: Int) {
        let at = sendRegion.buffer.baseAddress! + index * sendSize
        let returned = window.take()
        at.storeBytes(of: UInt32(returned).littleEndian, as: UInt32.self)
        let operation: QueuePair.SendOperation
        switch configuration.operation {
        case .send:
            operation = .send
        case .writeWithImmediate:
            let slot = nextRemoteSlot
            operation = .rdmaWriteWithImmediate(UInt32(slot), RemoteBuffer(
                address: remoteRing.address + UInt64(slot * remoteSlotSize), rkey: remoteRing.rkey))
            nextRemoteSlot = slot + 1 == remoteSlots ? 0 : slot + 1
        }
        let extra = extraSegment[index]
        let own = sendRegion.segment(offset: index * sendSize, length: sendLength[index] - (extra?.length ?? 0))
        do {
            if let extra {
                try qp.postSend(wrID: UInt64(index), operation, segments: [own, extra])
            } else {
                try qp.postSend(wrID: UInt64(index), operation, segment: own)
            }
            let now = ContinuousClock.now
            if postedSends == 0 { lastSendProgress = now }
            lastPostAt = now
            postedSends += 1
        } catch {
            window.untake(returned: returned)
            release(index)
            dieLocked(.connectionLost(peer: peer, reason: "\(error)"))
        }
    }

    // MARK: Completions

    private func runCompletions() {
        completionChannel.setNonBlocking()
        var completions: [WorkCompletion] = []
        completions.reserveCapacity(32)
        do {
            try cq.requestNotify()
        } catch {
            fail(.connectionLost(peer: peer, reason: "\(error)"))
        }
        while true {
            var descriptor = pollfd(fd: completionChannel.fileDescriptor, events: Int16(POLLIN), revents: 0)
            _ = poll(&descriptor, 1, 50)
            while (try? completionChannel.nextEvent()) != nil {}
            try? cq.requestNotify()
            while true {
                completions.removeAll(keepingCapacity: true)
                let taken: Int
                do {
                    taken = try cq.poll(into: &completions, maximum: 32)
                } catch {
                    fail(.connectionLost(peer: peer, reason: "\(error)"))
                    break
                }
                if taken == 0 { break }
                for completion in completions { handle(completion) }
                lock.withLock { pump() }
            }
            if tick() { break }
        }
        cmLoop.unregister(id.identifier)
    }

    private func handle(_ completion: WorkCompletion) {
        let isReceive = completion.wrID & Self.receiveTag != 0
        let index = Int(completion.wrID & 0xFFFF_FFFF)
        guard completion.status.isSuccess else {
            let expected = lock.withLock { () -> Bool in
                if isReceive { postedReceives -= 1 } else { postedSends -= 1; release(index) }
                if completion.status == .flushed {
                    if disconnectCalled || peerDisconnected || deathReason != nil { return true }
                    if flushSeenAt == nil { flushSeenAt = .now }
                    return true
                }
                return false
            }
            failWaiters(of: isReceive ? nil : index)
            if !expected {
                let opcode = isReceive ? "RECV" : configuration.operation == .send ? "SEND" : "RDMA_WRITE_WITH_IMM"
                let error = VerbsError.workCompletion(status: completion.status.description, wrID: completion.wrID,
                                                      opcode: opcode, peer: peer)
                fail(.connectionLost(peer: peer, reason: "\(error)"))
            }
            return
        }
        if isReceive {
            // A WRITE with immediate put its bytes in the ring buffer the immediate names; a SEND in
            // the receive's own buffer.
            let slot = completion.opcode == .receiveRDMAWithImmediate ? Int(completion.immData ?? 0) : index
            guard slot < configuration.receiveBufferCount else {
                lock.withLock { postedReceives -= 1 }
                fail(.connectionLost(peer: peer, reason: "a WRITE with immediate names receive buffer \(slot) of "
                                     + "\(configuration.receiveBufferCount) (wr_id \(completion.wrID))"))
                return
            }
            receive(index: index, slot: slot, length: completion.byteLength)
        } else {
            let resumed = lock.withLock { () -> [CheckedContinuation<Void, Error>] in
                postedSends -= 1
                release(index)
                lastSendProgress = .now
                return waiters.removeValue(forKey: index) ?? []
            }
            for waiter in resumed { waiter.resume() }
        }
    }

    /// Parses the piece in receive buffer `slot`, then reposts receive `index`.
    private func receive(index: Int, slot: Int, length: Int) {
        let base = UnsafeRawPointer(receiveRegion.buffer.baseAddress! + slot * receiveSize)
        guard length >= Self.creditPrefix else {
            lock.withLock { postedReceives -= 1 }
            fail(.connectionLost(peer: peer, reason: "a piece of \(length) bytes has no credit prefix"))
            return
        }
        let returned = Int(UInt32(littleEndian: base.loadUnaligned(as: UInt32.self)))
        let finished = lock.withLock { inboundFinished }
        if !rejected && !finished && length > Self.creditPrefix {
            let bytes = UnsafeRawBufferPointer(start: base + Self.creditPrefix, count: length - Self.creditPrefix)
            let continuation = self.continuation
            let place = placement.current
            do {
                try parser.feed(bytes, placement: place) { continuation.yield($0) }
            } catch {
                reject(error)
            }
        }
        let repost = lock.withLock { () -> Bool in
            window.returned(returned)
            if returned > 0 { creditWaitSince = nil }
            postedReceives -= 1
            return !disconnectCalled && !holdingReceives
        }
        guard repost else { return }
        do {
            try qp.postRecv(wrID: Self.receiveTag | UInt64(index),
                            segment: receiveRegion.segment(offset: index * receiveSize, length: receiveSize))
            lock.withLock {
                postedReceives += 1
                window.reposted()
            }
        } catch {
            // A QP that went to ERR meanwhile refuses the receive: that is the disconnect, not a failure.
            if !lock.withLock({ disconnectCalled }) { fail(.connectionLost(peer: peer, reason: "\(error)")) }
        }
    }

    /// Bytes that do not decode: the cause on `inbound`, an error frame to the peer, then close.
    private func reject(_ wire: WireError) {
        rejected = true
        let kind: ErrorReport.Kind
        if case .unsupportedVersion = wire { kind = .versionMismatch } else { kind = .malformedFrame }
        let report = ErrorReport(kind: kind, reporter: localName, message: "rejected frame from \(peer): \(wire)")
        // The error frame is queued first: whoever reads `inbound` may close the connection as soon
        // as it ends, and a close refuses later sends.
        enqueue(WireFormat.encode(.control(.error(report))), waiter: nil)
        finishInbound(throwing: .malformedFrame(peer: peer, wire))
        close()
    }

    /// Deadlines and the end of the connection; true when the completion thread may stop.
    private func tick() -> Bool {
        let now = ContinuousClock.now
        var callDisconnect = false
        var lost: TransportError?
        var cleanEnd = false
        lock.withLock {
            if closeRequested && !disconnectCalled, isDrained || closeDeadline.map({ now >= $0 }) ?? true {
                callDisconnect = true
            }
            if established && deathReason == nil && !disconnectCalled && !closeRequested {
                if postedSends > 0 && now - lastSendProgress > configuration.peerTimeout {
                    lost = .connectionLost(peer: peer, reason: "no acknowledgement of \(postedSends) posted pieces (\(configuration.operation.rawValue)) for "
                        + "\(configuration.peerTimeout) (the peer is gone or its queue pair failed)")
                } else if let since = creditWaitSince, now - since > configuration.peerTimeout {
                    lost = .connectionLost(peer: peer, reason: "\(staged.count) pieces waited \(configuration.peerTimeout) for receive "
                        + "credits the peer never returned (credits \(window.credits), owed \(window.owed)): the peer stopped "
                        + "reposting receives")
                } else if now - lastPostAt > configuration.keepaliveInterval && window.mayKeepAlive && staged.isEmpty,
                          let free = freeSend.popLast() {
                    // Keepalive: an empty piece (it returns what we owe, too).
                    sendLength[free] = Self.creditPrefix
                    post(free)
                }
            }
            // A post that failed under the lock (dieLocked) is ended here, where waiters can be failed.
            if let deathReason, case .connectionLost = deathReason, !disconnectCalled, !inboundFinished {
                lost = deathReason
            }
            if let flushSeenAt, !disconnectCalled, !peerDisconnected, now - flushSeenAt > .seconds(3) {
                lost = .connectionLost(peer: peer, reason: "the queue pair failed (work requests flushed) without a disconnect")
            }
            if disconnectCalled && !inboundFinished,
               postedReceives == 0 || (disconnectedAt.map { now - $0 > configuration.closeTimeout } ?? false) {
                cleanEnd = true
            }
        }
        if callDisconnect { disconnect() }
        if let lost { fail(lost) }
        if cleanEnd {
            let reason = lock.withLock { deathReason }
            if let reason, case .connectionLost = reason {
                finishInbound(throwing: reason)
            } else if parser.isAtFrameBoundary || rejected {
                finishInbound(throwing: nil)
            } else {
                finishInbound(throwing: .malformedFrame(
                    peer: peer, .short(need: parser.partialFrameSize, have: parser.pendingBytes)))
            }
        }
        return lock.withLock {
            guard inboundFinished, disconnectCalled, let finishedAt else { return false }
            return (postedSends == 0 && postedReceives == 0) || now - finishedAt > .seconds(5)
        }
    }

    /// rdma_disconnect once: the QP goes to ERR (flushing what is posted) and the peer hears of it.
    private func disconnect() {
        let first = lock.withLock { () -> Bool in
            acceptingSends = false
            guard !disconnectCalled else { return false }
            disconnectCalled = true
            disconnectedAt = .now
            return true
        }
        guard first else { return }
        try? id.disconnect()
        failAllWaiters()
    }

    /// A fatal error: `inbound` throws it, sends stop, the connection is torn down.
    private func fail(_ error: TransportError) {
        lock.withLock { dieLocked(error) }
        finishInbound(throwing: error)
        disconnect()
        failAllWaiters()
    }

    private func dieLocked(_ error: TransportError) {
        if deathReason == nil { deathReason = error }
        acceptingSends = false
    }

    private func finishInbound(throwing error: TransportError?) {
        let first = lock.withLock { () -> Bool in
            guard !inboundFinished else { return false }
            inboundFinished = true
            finishedAt = .now
            return true
        }
        guard first else { return }
        if let error { continuation.finish(throwing: error) } else { continuation.finish() }
    }

    private func failWaiters(of index: Int?) {
        guard let index else { return }
        let failed = lock.withLock { waiters.removeValue(forKey: index) ?? [] }
        let error = lock.withLock { deathReason ?? .closed(peer: peer) }
        for waiter in failed { waiter.resume(throwing: error) }
    }

    private func failAllWaiters() {
        let (failed, error) = lock.withLock { () -> ([CheckedContinuation<Void, Error>], TransportError) in
            var all = waiters.values.flatMap { $0 }
            waiters.removeAll()
            for i in pendingHead..<pending.count {
                if let waiter = pending[i].waiter { all.append(waiter) }
                pending[i].waiter = nil
            }
            if !acceptingSends {
                pending.removeAll()
                pendingHead = 0
            }
            return (all, deathReason ?? .closed(peer: peer))
        }
        for waiter in failed { waiter.resume(throwing: error) }
    }
}
