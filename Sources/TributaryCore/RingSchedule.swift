/// The segments and steps of the host ring allreduce (reduce-scatter, then all-gather), shared by
/// the workers that run it and the host replay that checks it, so both fold in the same order.
///
/// The buffer is cut into `ranks` segments. In reduce-scatter step s, rank r sends segment
/// (r − s) mod n to rank r+1, which folds it as `local ⊕ received`; after n−1 steps rank r owns
/// segment (r + 1) mod n complete, equal to `x_{j−1} ⊕ (… ⊕ (x_{j+1} ⊕ x_j))` for segment j. In
/// all-gather step s, rank r forwards segment (r + 1 − s) mod n. Each rank sends 2(n−1)/n of the
/// buffer and receives as much: the cost in-network reduction avoids.
public struct RingSchedule: Sendable, Equatable {
    public let count: Int
    public let ranks: Int
    /// Elements per segment (the last may be shorter or empty).
    public let segmentElements: Int

    public init(count: Int, ranks: Int) {
        self.count = count
        self.ranks = max(1, ranks)
        self.segmentElements = max(1, (count + self.ranks - 1) / self.ranks)
    }

    public func range(ofSegment j: Int) -> Range<Int> {
        let lo = min(count, j * segmentElements)
        return lo..<min(count, lo + segmentElements)
    }

    public func segment(containing element: Int) -> Int { min(ranks - 1, element / segmentElements) }

    /// Segment rank `rank` sends in reduce-scatter step `step`; it receives `sent(by: rank − 1)`.
    public func reduceScatterSend(rank: Int, step: Int) -> Int { ((rank - step) % ranks + ranks) % ranks }

    /// Segment rank `rank` sends in all-gather step `step`.
    public func allGatherSend(rank: Int, step: Int) -> Int { ((rank + 1 - step) % ranks + ranks) % ranks }
}
