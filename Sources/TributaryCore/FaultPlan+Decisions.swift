/// The plan's decisions. Each is a pure function of the seed and of what it is asked about (the
/// frame's ends, job, operation and chunk), never of a running count: which frames of `frames=0.01`
/// are dropped and which byte is flipped does not depend on timing, on arrival order, or on which
/// process asks, so a run replays exactly and both ends of a link agree on what the plan says.
extension FaultPlan {
    /// The kills and hangs that strike switch `switchName` at this contribution, with their index in
    /// `faults` (a caller fires each once: every child's contribution to the slot matches).
    public func processFaults(at switchName: String, job: String, opSeq: UInt64, chunk: UInt32)
        -> [(index: Int, fault: ProcessFault)] {
        faults.indices.compactMap { i in
            let f = faults[i]
            guard f.kind.stopsProcess, f.target == .named(switchName),
                  f.applies(job: job, opSeq: opSeq, chunk: chunk) else { return nil }
            return (i, f.kind == .kill ? .kill : .hang)
        }
    }

    /// What happens to the chunk frame `from` → `to` of chunk `chunk` of operation `opSeq`: every
    /// matching fault whose seeded draw for this frame falls under its fraction applies. Drops win;
    /// delays add up; the first corruption is taken (an empty payload has no byte to flip).
    public func frameFault(from: String, to: String, job: String, opSeq: UInt64, chunk: UInt32, payloadBytes: Int)
        -> FrameFault {
        var out = FrameFault.none
        for (i, f) in faults.enumerated() where f.kind.touchesFrames {
            guard f.target.matches(from: from, to: to), f.applies(job: job, opSeq: opSeq, chunk: chunk) else { continue }
            let key = frameKey(fault: i, from: from, to: to, job: job, opSeq: opSeq, chunk: chunk)
            guard f.fraction >= 1 || Self.unit(SplitMix64.mix(key)) < f.fraction else { continue }
            switch f.kind {
            case .drop:
                out.drop = true
            case .delay(let ms):
                out.delay += .milliseconds(ms)
            case .corrupt where out.corruption == nil && payloadBytes > 0:
                let draw = SplitMix64.mix(key ^ 0xC0_22_07)
                out.corruption = (Int(draw % UInt64(payloadBytes)), UInt8(1 + (draw >> 32) % 255))
            default:
                break
            }
        }
        return out
    }

    /// How long rank `rank` sleeps before operation `opSeq` (slow faults add up); nil: not at all.
    public func operationDelay(rank: Int, job: String, opSeq: UInt64) -> Duration? {
        var total = Duration.zero
        for f in faults where f.target == .rank(rank) && f.applies(job: job, opSeq: opSeq, chunk: nil) {
            if case .slow(let ms) = f.kind { total += .milliseconds(ms) }
        }
        return total == .zero ? nil : total
    }

    /// Whether node `name` (a switch's aggregator, or a host's rank) has anything to inject: if not,
    /// it runs with no hook at all.
    public func concerns(node name: String) -> Bool {
        faults.contains { $0.kind.touchesFrames ? $0.target.involves(name) : ($0.kind.stopsProcess && $0.target == .named(name)) }
    }

    /// Whether rank `rank` on host `host` has anything to inject (a slow rank, frames its host sends).
    public func concerns(rank: Int, host: String) -> Bool {
        faults.contains { $0.target == .rank(rank) || ($0.kind.touchesFrames && $0.target.involves(host)) }
    }

    /// One frame's identity under one fault and the seed, hashed: the same frame always draws the same.
    private func frameKey(fault: Int, from: String, to: String, job: String, opSeq: UInt64, chunk: UInt32) -> UInt64 {
        var h = SplitMix64.mix(seed ^ 0x6661_756C_7473) // "faults"
        for part in [UInt64(fault), Self.hash(from), Self.hash(to), Self.hash(job), opSeq, UInt64(chunk)] {
            h = SplitMix64.mix((h ^ part) &+ SplitMix64.golden)
        }
        return h
    }

    /// FNV-1a over the UTF-8 bytes: a string hash that is the same in every process and on every
    /// platform (Swift's `Hasher` is seeded per process, so two ends of a link would disagree).
    static func hash(_ text: String) -> UInt64 {
        var h: UInt64 = 0xCBF2_9CE4_8422_2325
        for byte in text.utf8 {
            h ^= UInt64(byte)
            h = h &* 0x0000_0100_0000_01B3
        }
        return h
    }

    /// The top 53 bits as a uniform draw in [0, 1).
    static func unit(_ x: UInt64) -> Double { Double(x >> 11) / Double(1 << 53) }
}

extension Fault {
    /// Whether this fault's job, operation and chunk filters admit the point asked about (a nil
    /// `chunk` asks about a whole operation).
    func applies(job: String, opSeq: UInt64, chunk: UInt32?) -> Bool {
        if let only = self.job, only != job { return false }
        if let only = self.opSeq, only != opSeq { return false }
        if let only = self.chunk, let chunk, only != chunk { return false }
        return true
    }
}
