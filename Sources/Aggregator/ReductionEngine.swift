import TributaryCore

/// What the engine asks its owner to do; the engine itself does no I/O so it can be tested alone.
public enum EngineAction: Sendable, Equatable {
    case sendUp(Frame)
    case sendDown(child: Int, Frame)
    /// A failure to report to the coordinator and to every child (the operation is abandoned).
    case fail(ErrorReport)
}

/// The reduction logic of one aggregation node for one job: slots keyed by (operation, chunk),
/// contributions checked against each other and folded strictly in child order, results sent up
/// or, at the root, down.
public final class ReductionEngine {
    public let assignment: AggregatorAssignment
    public private(set) var pool: SlotPool
    private let fanIn: Int
    private let origin: UInt32
    private let reporter: String
    private var slots: [SlotKey: Slot] = [:]
    /// Operations abandoned after a mismatch; their later chunks are dropped, not folded.
    private var failedOps: Set<UInt64> = []
    /// The chunk the last `contribution` completed, and how long its slot was open (in the
    /// caller's clock units): what metrics and traces call a fold.
    public private(set) var lastFold: (opSeq: UInt64, chunk: UInt32, waited: UInt64)?
    /// Chunks folded since the job was installed.
    public private(set) var chunksFolded: UInt64 = 0
    /// Chunks sent to the parent whose result has not come back, and when they left (at most a
    /// window's worth): what a hung parent leaves behind.
    private var sentUp: [SlotKey: UInt64] = [:]
    private var parentStallReported: Set<SlotKey> = []

    struct SlotKey: Hashable {
        var opSeq: UInt64
        var chunk: UInt32
    }

    struct Slot {
        var poolIndex: Int
        var header: ChunkHeader
        var firstChild: Int
        var signatures: [ChunkHeader.Signature?]
        var pending: [[UInt8]?]
        var accumulator: [UInt8] = []
        var nextToFold = 0
        var arrivedCount = 0
        var conflicted = false
        var openedAt: UInt64
        var stallReported = false
    }

    public init(assignment: AggregatorAssignment) {
        self.assignment = assignment
        self.fanIn = assignment.children.count
        self.pool = SlotPool(slots: assignment.slots, slotBytes: assignment.slotBytes)
        self.origin = UInt32(assignment.childRanks.flatMap { $0 }.min() ?? 0)
        self.reporter = "aggregator \(assignment.switchName)"
    }

    public var isRoot: Bool { assignment.parent == nil }

    private func ranks(ofChild child: Int) -> [Int] {
        child < assignment.childRanks.count ? assignment.childRanks[child] : []
    }

    private func ranks(ofChildren children: [Int]) -> [Int] {
        children.flatMap { ranks(ofChild: $0) }.sorted()
    }

    /// A chunk from child `child` on the up path.
    public func contribution(from child: Int, header: ChunkHeader, payload: [UInt8], now: UInt64 = 0)
        -> [EngineAction] {
        lastFold = nil
        guard child >= 0 && child < fanIn else {
            return [.fail(violation(header, "contribution from child index \(child) of \(fanIn)", ranks: []))]
        }
        if failedOps.contains(header.opSeq) { return [] }
        guard header.job == assignment.job else {
            return [.fail(ErrorReport(kind: .unknownJob, job: header.job, opSeq: header.opSeq,
                                      ranks: ranks(ofChild: child), reporter: reporter,
                                      message: "chunk for job \(header.job) on a connection of job \(assignment.job)"))]
        }
        if header.flags.contains(.result) {
            return [.fail(violation(header, "result chunk sent up by child \(child)", ranks: ranks(ofChild: child)))]
        }
        if payload.count > pool.slotBytes {
            return [.fail(violation(header, "chunk of \(payload.count) bytes exceeds slot size \(pool.slotBytes)",
                                    ranks: ranks(ofChild: child)))]
        }
        let key = SlotKey(opSeq: header.opSeq, chunk: header.chunkIndex)
        var slot: Slot
        if let existing = slots[key] {
            slot = existing
        } else {
            guard let index = pool.acquire() else {
                return [.fail(violation(header, "slot pool exhausted (\(pool.slots) slots): child \(child) sent "
                                        + "beyond its window of \(assignment.streaming.window) chunks",
                                        ranks: ranks(ofChild: child)))]
            }
            slot = Slot(poolIndex: index, header: header, firstChild: child,
                        signatures: Array(repeating: nil, count: fanIn), pending: Array(repeating: nil, count: fanIn),
                        openedAt: now)
        }
        if slot.signatures[child] != nil {
            slots[key] = slot
            return [.fail(violation(header, "child \(child) contributed chunk \(header.chunkIndex) twice",
                                    ranks: ranks(ofChild: child)))]
        }
        let signature = header.signature
        slot.signatures[child] = signature
        slot.arrivedCount += 1
        if signature != slot.header.signature { slot.conflicted = true }
        if slot.conflicted {
            slots[key] = slot
            // Name the culprits once every child has shown its hand, so the majority is known.
            guard slot.arrivedCount == fanIn else { return [] }
            return [.fail(mismatchReport(key: key, slot: slot))]
        }
        slot.pending[child] = payload
        fold(&slot)
        guard slot.nextToFold == fanIn else {
            slots[key] = slot
            return []
        }
        slots.removeValue(forKey: key)
        pool.release(slot.poolIndex)
        lastFold = (key.opSeq, key.chunk, now &- slot.openedAt)
        chunksFolded &+= 1
        if !isRoot { sentUp[key] = now }
        return complete(slot)
    }

    /// Folds every contribution that is next in child order. Out-of-order ones wait in `pending`.
    private func fold(_ slot: inout Slot) {
        let h = slot.header
        while slot.nextToFold < fanIn, let data = slot.pending[slot.nextToFold] {
            let i = slot.nextToFold
            slot.pending[i] = nil
            switch h.collective {
            case .broadcast:
                // Exactly one subtree holds the root; the others grant credit with empty chunks.
                if !data.isEmpty { slot.accumulator = data }
            case .allGather:
                // Subtrees owning no block in the chunk grant credit; the others' zero-padded
                // blocks are disjoint, so OR joins them bit for bit (x | 0 == x, NaN and −0 too).
                if slot.accumulator.isEmpty {
                    slot.accumulator = data
                } else if !data.isEmpty {
                    let bytes = slot.accumulator.count
                    guard data.count == bytes else { break }  // caught by the length check in `complete`
                    slot.accumulator.withUnsafeMutableBytes { acc in
                        data.withUnsafeBytes { src in
                            Reduction.combine(.bor, .u8, into: acc.baseAddress!, from: src.baseAddress!, count: bytes)
                        }
                    }
                }
            case .allreduce, .reduce, .barrier, .reduceScatter:
                if i == 0 {
                    slot.accumulator = data
                } else if !data.isEmpty {
                    let count = Int(h.elementCount)
                    slot.accumulator.withUnsafeMutableBytes { acc in
                        data.withUnsafeBytes { src in
                            Reduction.combine(h.op, h.dtype, into: acc.baseAddress!, from: src.baseAddress!,
                                              count: count)
                        }
                    }
                }
            }
            slot.nextToFold += 1
        }
    }

    private func complete(_ slot: Slot) -> [EngineAction] {
        var header = slot.header
        header.origin = origin
        header.flags = []
        header.payloadLength = UInt32(slot.accumulator.count)
        if (header.collective == .broadcast || header.collective == .allGather) && header.elementCount > 0 {
            // A subtree without a contributor only grants credit upward; one with a contributor
            // must carry the chunk's data, whole.
            let range = Int(header.elementOffset)..<(Int(header.elementOffset) + Int(header.elementCount))
            let contributors = header.collective.contributors(of: range, root: Int(header.root),
                                                              worldSize: Int.max / 2)
            let below = assignment.childRanks.flatMap { $0 }.filter { contributors.contains($0) }
            let whole = Int(header.elementCount) * header.dtype.size
            if slot.accumulator.isEmpty {
                if !below.isEmpty || isRoot {
                    return [.fail(violation(header, "\(header.collective) chunk \(header.chunkIndex) reached "
                                            + "\(assignment.switchName) without the data of rank "
                                            + "\(RankList.format(below.isEmpty ? Array(contributors.prefix(8)) : below))",
                                            ranks: below))]
                }
                header.flags = [.empty]
            } else if slot.accumulator.count != whole {
                return [.fail(violation(header, "\(header.collective) chunk \(header.chunkIndex) carries "
                                        + "\(slot.accumulator.count) bytes, expected \(whole)", ranks: below))]
            }
        }
        if !isRoot {
            return [.sendUp(.chunk(header, payload: slot.accumulator))]
        }
        header.flags = [.result]
        return down(header: header, payload: slot.accumulator)
    }

    /// A result from the parent on the down path.
    public func result(header: ChunkHeader, payload: [UInt8]) -> [EngineAction] {
        if failedOps.contains(header.opSeq) { return [] }
        guard header.flags.contains(.result), header.job == assignment.job else {
            return [.fail(violation(header, "parent sent a chunk that is not a result of job \(assignment.job)",
                                    ranks: []))]
        }
        let key = SlotKey(opSeq: header.opSeq, chunk: header.chunkIndex)
        sentUp.removeValue(forKey: key)
        parentStallReported.remove(key)
        var h = header
        h.origin = origin
        return down(header: h, payload: payload)
    }

    /// Fans a result out to the children; for `reduce`, only the subtree holding the root gets
    /// data, for `reduce-scatter` only the subtrees whose ranks' blocks overlap the chunk.
    private func down(header: ChunkHeader, payload: [UInt8]) -> [EngineAction] {
        var actions: [EngineAction] = []
        actions.reserveCapacity(fanIn)
        let range = Int(header.elementOffset)..<(Int(header.elementOffset) + Int(header.elementCount))
        let receivers = header.collective.receivers(of: range, root: Int(header.root), worldSize: Int.max / 2)
        for child in 0..<fanIn {
            if (header.collective == .reduce || header.collective == .reduceScatter)
                && !ranks(ofChild: child).contains(where: { receivers.contains($0) })
                && !header.flags.contains(.empty) {
                var empty = header
                empty.flags.insert(.empty)
                empty.payloadLength = 0
                actions.append(.sendDown(child: child, .chunk(empty, payload: [])))
            } else {
                actions.append(.sendDown(child: child, .chunk(header, payload: payload)))
            }
        }
        return actions
    }

    private func violation(_ header: ChunkHeader, _ message: String, ranks: [Int]) -> ErrorReport {
        failedOps.insert(header.opSeq)
        return ErrorReport(kind: .protocolViolation, job: assignment.job, opSeq: header.opSeq, ranks: ranks,
                           reporter: reporter, message: message)
    }

    /// Groups children by what they sent; the largest group (ties: the one holding child 0) is
    /// taken as intended and every other group's ranks are named.
    private func mismatchReport(key: SlotKey, slot: Slot) -> ErrorReport {
        failedOps.insert(key.opSeq)
        var groups: [(ChunkHeader.Signature, [Int])] = []
        for (child, sig) in slot.signatures.enumerated() {
            guard let sig else { continue }
            if let i = groups.firstIndex(where: { $0.0 == sig }) {
                groups[i].1.append(child)
            } else {
                groups.append((sig, [child]))
            }
        }
        let majority = groups.indices.max { a, b in
            let ca = groups[a].1.count, cb = groups[b].1.count
            if ca != cb { return ca < cb }
            return groups[a].1.min()! > groups[b].1.min()!
        }!
        let reference = groups[majority]
        var culprits: [Int] = []
        var parts: [String] = []
        for (i, group) in groups.enumerated() where i != majority {
            let r = ranks(ofChildren: group.1)
            culprits += r
            parts.append("rank \(RankList.format(r)) called \(group.0) (\(group.0.differences(from: reference.0).joined(separator: ", ")))")
        }
        let message = "collective mismatch at op #\(key.opSeq) chunk \(key.chunk): "
            + parts.joined(separator: "; ")
            + "; rank \(RankList.format(ranks(ofChildren: reference.1))) called \(reference.0)"
        return ErrorReport(kind: .collectiveMismatch, job: assignment.job, opSeq: key.opSeq, ranks: culprits.sorted(),
                           reporter: reporter, message: message)
    }

    /// Releases the slots of an abandoned operation so a failure cannot leak the pool.
    public func abandon(opSeq: UInt64) {
        failedOps.insert(opSeq)
        sentUp = sentUp.filter { $0.key.opSeq != opSeq }
        parentStallReported = parentStallReported.filter { $0.opSeq != opSeq }
        for (key, slot) in slots where key.opSeq == opSeq {
            pool.release(slot.poolIndex)
            slots.removeValue(forKey: key)
        }
    }

    /// The `limit` oldest open slots: which children (indices) and ranks have not contributed, and
    /// since when (the caller's clock units). For heartbeats; nothing is marked.
    public func waits(limit: Int) -> [(opSeq: UInt64, chunk: UInt32, missing: [Int], ranks: [Int], since: UInt64)] {
        let oldest = slots.sorted { ($0.value.openedAt, $0.key.opSeq, $0.key.chunk) < ($1.value.openedAt, $1.key.opSeq, $1.key.chunk) }
            .prefix(limit)
        return oldest.map { key, slot in
            let missing = slot.signatures.indices.filter { slot.signatures[$0] == nil }
            return (key.opSeq, key.chunk, missing, ranks(ofChildren: missing), slot.openedAt)
        }
    }

    /// The oldest chunk sent up whose result has not come back, and when it left.
    public func oldestAwaitingParent() -> (opSeq: UInt64, chunk: UInt32, since: UInt64)? {
        sentUp.min { ($0.value, $0.key.opSeq, $0.key.chunk) < ($1.value, $1.key.opSeq, $1.key.chunk) }
            .map { ($0.key.opSeq, $0.key.chunk, $0.value) }
    }

    /// Chunks sent up longer than `timeout` ago with no result from the parent; each reported once.
    public func parentStalls(now: UInt64, timeout: UInt64) -> [(opSeq: UInt64, chunk: UInt32)] {
        var out: [(UInt64, UInt32)] = []
        for (key, since) in sentUp where now &- since > timeout && !parentStallReported.contains(key) {
            out.append((key.opSeq, key.chunk))
        }
        out.sort { ($0.0, $0.1) < ($1.0, $1.1) }
        // One report per operation is enough: the rest of its chunks wait for the same parent.
        var seenOps: Set<UInt64> = []
        out = out.filter { seenOps.insert($0.0).inserted }
        for key in sentUp.keys where now &- sentUp[key]! > timeout { parentStallReported.insert(key) }
        return out
    }

    /// Slots older than `timeout` (in the caller's clock units) with the ranks that have not
    /// contributed; each stalled slot is reported once.
    public func stalledSlots(now: UInt64, timeout: UInt64) -> [(opSeq: UInt64, chunk: UInt32, missing: [Int])] {
        var out: [(UInt64, UInt32, [Int])] = []
        for (key, slot) in slots where !slot.stallReported && now &- slot.openedAt > timeout {
            let missing = slot.signatures.indices.filter { slot.signatures[$0] == nil }
            out.append((key.opSeq, key.chunk, ranks(ofChildren: missing)))
            slots[key]?.stallReported = true
        }
        return out.sorted { ($0.0, $0.1) < ($1.0, $1.1) }
    }
}
