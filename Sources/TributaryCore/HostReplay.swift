/// Recomputes, on the host, exactly what the fabric computes: the same kernels folded in the same
/// tree order (`((c0 ⊕ c1) ⊕ c2) ⊕ …` at every node), one chunk at a time so memory stays bounded
/// by the chunk size and the tree depth, whatever the message size.
public struct HostReplay: Sendable {
    public let tree: AggregationTree
    public let collective: Collective
    public let dtype: DType
    public let op: ReduceOp
    public let count: Int
    public let root: Int
    public let chunkElements: Int
    /// Tree order (in-network) or ring order (host ring); they give different float bits.
    public let algorithm: Algorithm
    /// Chunks folded by another tree than `tree`: an operation interrupted by a lost switch keeps
    /// the chunks the old tree had computed and has the rest computed by the new one.
    public var chunkTrees: [Int: AggregationTree] = [:]
    /// Fills `count` elements of `rank`'s input starting at element `offset`.
    public let input: @Sendable (_ rank: Int, _ offset: Int, _ count: Int, _ into: UnsafeMutableRawPointer) -> Void

    public init(tree: AggregationTree, collective: Collective, dtype: DType, op: ReduceOp, count: Int, root: Int,
                chunkElements: Int, algorithm: Algorithm = .inNetwork,
                input: @escaping @Sendable (_ rank: Int, _ offset: Int, _ count: Int, _ into: UnsafeMutableRawPointer) -> Void) {
        self.tree = tree
        self.collective = collective
        self.dtype = dtype
        self.op = op
        self.count = count
        self.root = root
        self.chunkElements = max(1, chunkElements)
        self.algorithm = algorithm
        self.input = input
    }

    public var chunkCount: Int { geometry.chunkCount }

    /// Element range of chunk `k`.
    public func range(ofChunk k: Int) -> Range<Int> { geometry.range(ofChunk: k) }

    /// The result bytes of chunk `k` as every receiving rank must hold them.
    public func expectedChunk(_ k: Int) -> [UInt8] {
        let r = range(ofChunk: k)
        let bytes = r.count * dtype.size
        guard bytes > 0 else { return [] }
        switch collective {
        case .broadcast:
            return generate(rank: root, range: r)
        case .barrier:
            return []
        case .allGather:
            // Each overlapping rank's block, read from its input at block-relative offsets; the
            // fold is an OR of disjoint zero-padded blocks, so no order shows in the bits.
            let blocks = BlockLayout(blockCount: root, worldSize: tree.worldSize)
            var out = [UInt8](repeating: 0, count: bytes)
            for rank in blocks.ranks(overlapping: r) {
                let block = blocks.block(of: rank)
                let piece = max(r.lowerBound, block.lowerBound)..<min(r.upperBound, block.upperBound)
                out.withUnsafeMutableBytes { o in
                    input(rank, piece.lowerBound - block.lowerBound, piece.count,
                          o.baseAddress! + (piece.lowerBound - r.lowerBound) * dtype.size)
                }
            }
            return out
        case .allreduce, .reduce, .reduceScatter:
            if algorithm == .ring { return ringValue(range: r) }
            let folding = chunkTrees[k] ?? tree
            return value(of: .aggregator(name: folding.root), in: folding, range: r)
        }
    }

    public var geometry: ChunkGeometry { ChunkGeometry(count: count, chunkElements: chunkElements) }

    /// The stretches of the result ranks hold whole (`ChunkGeometry.resultPieces`).
    public var pieces: [ResultPiece] { geometry.resultPieces(collective, root: root) }

    /// Which of `pieces` (computed once per operation) `rank` holds: what its digests cover, in order.
    public func pieces(_ pieces: [ResultPiece], heldBy rank: Int) -> [Int] {
        ChunkGeometry.pieces(pieces, of: collective, root: root, worldSize: tree.worldSize, heldBy: rank)
    }

    /// Digests of every piece's expected result, in `pieces` order.
    public func expectedDigests() -> [UInt64] {
        var out: [UInt64] = []
        var chunk = -1
        var bytes: [UInt8] = []
        for piece in pieces {
            if piece.chunk != chunk {
                chunk = piece.chunk
                bytes = expectedChunk(chunk)
            }
            let at = (piece.range.lowerBound - range(ofChunk: chunk).lowerBound) * dtype.size
            out.append(bytes.withUnsafeBytes {
                Digest.of(UnsafeRawBufferPointer(rebasing: $0[at..<(at + piece.range.count * dtype.size)]))
            })
        }
        return out
    }

    /// Ring order: segment j starts at rank j and gathers `x_{j+k} ⊕ acc` around the ring
    /// (see `RingSchedule`), so each element's fold order depends on its segment.
    private func ringValue(range r: Range<Int>) -> [UInt8] {
        let n = tree.worldSize
        let schedule = RingSchedule(count: count, ranks: n)
        var out = [UInt8](repeating: 0, count: r.count * dtype.size)
        var lo = r.lowerBound
        while lo < r.upperBound {
            let j = schedule.segment(containing: lo)
            let hi = min(r.upperBound, schedule.range(ofSegment: j).upperBound)
            let piece = lo..<hi
            var acc = generate(rank: j, range: piece)
            for k in 1..<max(1, n) {
                var next = generate(rank: (j + k) % n, range: piece)
                next.withUnsafeMutableBytes { a in
                    acc.withUnsafeBytes { b in
                        Reduction.combine(op, dtype, into: a.baseAddress!, from: b.baseAddress!, count: piece.count)
                    }
                }
                acc = next
            }
            let at = (lo - r.lowerBound) * dtype.size
            out.withUnsafeMutableBytes { o in
                acc.withUnsafeBytes { (o.baseAddress! + at).copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
            }
            lo = hi
        }
        return out
    }

    private func generate(rank: Int, range r: Range<Int>) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: r.count * dtype.size)
        out.withUnsafeMutableBytes { input(rank, r.lowerBound, r.count, $0.baseAddress!) }
        return out
    }

    private func value(of child: AggregationTree.Child, in tree: AggregationTree, range r: Range<Int>) -> [UInt8] {
        switch child {
        case .worker(let rank):
            return generate(rank: rank, range: r)
        case .aggregator(let name):
            let children = tree.nodes[name]?.children ?? []
            var acc = value(of: children[0], in: tree, range: r)
            for child in children.dropFirst() {
                let next = value(of: child, in: tree, range: r)
                acc.withUnsafeMutableBytes { a in
                    next.withUnsafeBytes { b in
                        Reduction.combine(op, dtype, into: a.baseAddress!, from: b.baseAddress!, count: r.count)
                    }
                }
            }
            return acc
        }
    }
}
