/// The switch's aggregation memory (its SRAM): a fixed number of slots of a fixed payload size.
/// A slot holds one chunk of one operation while children contribute; running out means a sender
/// ignored its credits, which is a protocol violation, never a reason to grow.
///
/// The accumulator bytes themselves live in the first contribution's buffer (reduced in place, no
/// copy), so the pool is the capacity check that bounds them: at most `slots × slotBytes` bytes of
/// accumulators exist at once, plus contributions that arrived ahead of their turn in the fold.
public struct SlotPool: Sendable {
    public let slots: Int
    public let slotBytes: Int
    private var free: [Int]

    public init(slots: Int, slotBytes: Int) {
        precondition(slots > 0 && slotBytes > 0, "slot pool needs positive slots and bytes")
        self.slots = slots
        self.slotBytes = slotBytes
        self.free = Array((0..<slots).reversed())
    }

    public var inUse: Int { slots - free.count }

    /// Takes a slot, or nil when all are in use.
    public mutating func acquire() -> Int? {
        free.popLast()
    }

    public mutating func release(_ slot: Int) {
        precondition(slot >= 0 && slot < slots && !free.contains(slot), "slot \(slot) released twice")
        free.append(slot)
    }
}
