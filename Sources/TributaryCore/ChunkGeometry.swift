/// Where the chunks of one operation lie: elements per chunk, how many chunks, and each chunk's
/// element range. Derived here once so the worker, the aggregators' checks, the host replay and
/// recovery agree on it by construction.
public struct ChunkGeometry: Sendable, Equatable {
    /// Elements in the operation's vector (for a blockwise collective, all `worldSize` blocks).
    public let count: Int
    public let chunkElements: Int

    public init(count: Int, chunkElements: Int) {
        self.count = max(0, count)
        self.chunkElements = max(1, chunkElements)
    }

    /// At least one, so an empty operation still synchronises (a barrier is an empty allreduce).
    public var chunkCount: Int { max(1, (count + chunkElements - 1) / chunkElements) }

    /// Element range of chunk `k` (empty for the one chunk of an empty operation).
    public func range(ofChunk k: Int) -> Range<Int> {
        let lo = min(count, k * chunkElements)
        return lo..<min(count, lo + chunkElements)
    }

    /// The chunks that hold any element of `range`.
    public func chunks(overlapping range: Range<Int>) -> Range<Int> {
        guard !range.isEmpty else { return 0..<0 }
        return (range.lowerBound / chunkElements)..<((range.upperBound - 1) / chunkElements + 1)
    }
}

/// How reduce-scatter and all-gather lay their vector out: rank r's block is elements
/// `r × blockCount ..< (r + 1) × blockCount` (MPI's and NCCL's layout).
public struct BlockLayout: Sendable, Equatable {
    public let blockCount: Int
    public let worldSize: Int

    public init(blockCount: Int, worldSize: Int) {
        self.blockCount = max(0, blockCount)
        self.worldSize = max(0, worldSize)
    }

    /// Elements of the whole vector.
    public var count: Int { blockCount * worldSize }

    public func block(of rank: Int) -> Range<Int> { (rank * blockCount)..<((rank + 1) * blockCount) }

    /// The ranks whose blocks hold any element of `range`.
    public func ranks(overlapping range: Range<Int>) -> Range<Int> {
        guard blockCount > 0, !range.isEmpty else { return 0..<0 }
        let first = min(worldSize, range.lowerBound / blockCount)
        let last = min(worldSize, (range.upperBound - 1) / blockCount + 1)
        return first..<last
    }
}

/// A stretch of an operation's result that ranks hold whole: what one result digest covers.
public struct ResultPiece: Sendable, Equatable {
    public var chunk: Int
    public var range: Range<Int>
    public init(chunk: Int, range: Range<Int>) {
        self.chunk = chunk
        self.range = range
    }
}

extension ChunkGeometry {
    /// Every piece of the result some rank holds, in element order: each chunk whole, except that
    /// a reduce-scatter's chunks are cut at block edges (a rank holds only its own block).
    public func resultPieces(_ collective: Collective, root: Int) -> [ResultPiece] {
        var out: [ResultPiece] = []
        for k in 0..<chunkCount {
            let r = range(ofChunk: k)
            guard !r.isEmpty else { continue }
            guard collective == .reduceScatter, root > 0 else {
                out.append(ResultPiece(chunk: k, range: r))
                continue
            }
            var lo = r.lowerBound
            while lo < r.upperBound {
                let hi = min(r.upperBound, (lo / root + 1) * root)
                out.append(ResultPiece(chunk: k, range: lo..<hi))
                lo = hi
            }
        }
        return out
    }

    /// Which of `resultPieces` `rank` holds (indices into them, in order).
    public func resultPieces(_ collective: Collective, root: Int, worldSize: Int, heldBy rank: Int) -> [Int] {
        Self.pieces(resultPieces(collective, root: root), of: collective, root: root, worldSize: worldSize, heldBy: rank)
    }

    /// Which of `pieces` (an operation's `resultPieces`, computed once) `rank` holds.
    public static func pieces(_ pieces: [ResultPiece], of collective: Collective, root: Int, worldSize: Int,
                              heldBy rank: Int) -> [Int] {
        pieces.indices.filter {
            collective.receivers(of: pieces[$0].range, root: root, worldSize: worldSize).contains(rank)
        }
    }
}
