import Foundation
import TributaryCore

/// Where this rank's result bytes of each chunk of one operation go (pure, so a transport's
/// thread can place results by it).
///
/// For every collective but reduce-scatter a chunk's result sits in the receive buffer at the
/// chunk's own offset. A reduce-scatter's receive buffer holds only this rank's block: a chunk
/// inside the block sits at its offset within the block; a chunk straddling a block edge does not
/// go there whole (see `ResultChunks`).
struct ResultLayout: Sendable {
    let collective: Collective
    let geometry: ChunkGeometry
    let size: Int
    let rank: Int
    /// The root rank, or a blockwise collective's block count.
    let root: Int
    let worldSize: Int
    /// Whether this rank receives result data at all (a reduce's other ranks, a barrier: no).
    let receivesAny: Bool

    var block: Range<Int> { BlockLayout(blockCount: root, worldSize: worldSize).block(of: rank) }

    /// Whether chunk `k`'s result data comes to this rank.
    func receives(_ k: Int) -> Bool {
        guard receivesAny, k >= 0, k < geometry.chunkCount else { return false }
        return collective.receivers(of: geometry.range(ofChunk: k), root: root, worldSize: worldSize).contains(rank)
    }

    /// Byte offset in the receive buffer where chunk `k`'s whole result goes; nil when it does not
    /// go there whole (a reduce-scatter chunk across a block edge) or this rank does not receive it.
    func directOffset(_ k: Int) -> Int? {
        guard receives(k) else { return nil }
        let r = geometry.range(ofChunk: k)
        guard collective == .reduceScatter else { return r.lowerBound * size }
        let b = block
        guard r.lowerBound >= b.lowerBound, r.upperBound <= b.upperBound else { return nil }
        return (r.lowerBound - b.lowerBound) * size
    }

    /// Whether this rank sends data (not only credit) for chunk `k`.
    func contributes(_ k: Int, _ contributesAtAll: Bool) -> Bool {
        guard contributesAtAll else { return false }
        guard collective == .allGather else { return true }
        return collective.contributors(of: geometry.range(ofChunk: k), root: root, worldSize: worldSize).contains(rank)
    }
}

/// This rank's result chunks of one operation: in the receive buffer as `ResultLayout` says, and
/// the reduce-scatter chunks that straddle a block edge also kept aside whole — this rank stores
/// only its part in `recv`, but validation digests and recovery deal in whole chunks. At most two
/// chunks per rank straddle an edge.
final class ResultChunks {
    let layout: ResultLayout
    let recv: UnsafeMutableRawPointer?
    /// Whole copies of the chunks that straddle this rank's block edges (owned here).
    private var edges: [Int: UnsafeMutableRawBufferPointer] = [:]

    init(_ layout: ResultLayout, recv: UnsafeMutableRawPointer?) {
        self.layout = layout
        self.recv = recv
    }

    deinit {
        for e in edges.values { e.deallocate() }
    }

    func receives(_ k: Int) -> Bool { recv != nil && layout.receives(k) }

    /// Takes chunk `k`'s whole result bytes: into `recv`, and aside when it straddles a block edge.
    func store(_ k: Int, _ bytes: UnsafeRawBufferPointer) {
        let r = layout.geometry.range(ofChunk: k), size = layout.size
        guard receives(k), let recv, bytes.count == r.count * size, bytes.count > 0 else { return }
        if let offset = layout.directOffset(k) {
            (recv + offset).copyMemory(from: bytes.baseAddress!, byteCount: bytes.count)
            return
        }
        let b = layout.block
        let lo = max(r.lowerBound, b.lowerBound), hi = min(r.upperBound, b.upperBound)
        if hi > lo {
            (recv + (lo - b.lowerBound) * size).copyMemory(from: bytes.baseAddress! + (lo - r.lowerBound) * size,
                                                            byteCount: (hi - lo) * size)
        }
        edges[k]?.deallocate()
        let copy = UnsafeMutableRawBufferPointer.allocate(byteCount: bytes.count, alignment: 16)
        copy.copyMemory(from: bytes)
        edges[k] = copy
    }

    /// Chunk `k`'s whole result bytes as this rank holds them (nil: it does not hold them).
    func bytes(_ k: Int) -> UnsafeRawBufferPointer? {
        guard receives(k), let recv else { return nil }
        if let offset = layout.directOffset(k) {
            return UnsafeRawBufferPointer(start: recv + offset, count: layout.geometry.range(ofChunk: k).count * layout.size)
        }
        return edges[k].map { UnsafeRawBufferPointer($0) }
    }

    /// Chunk `k`'s whole result (what recovery shares with a rank that lacks it).
    func data(_ k: Int) -> Data? { bytes(k).map { Data($0) } }

    /// The pieces of the result this rank holds (`ChunkGeometry.resultPieces`), with their bytes.
    private func heldPieces() -> [(piece: ResultPiece, bytes: UnsafeRawBufferPointer)] {
        guard let recv, layout.receivesAny else { return [] }
        let g = layout.geometry, size = layout.size
        let pieces = g.resultPieces(layout.collective, root: layout.root)
        let base = layout.collective == .reduceScatter ? layout.block.lowerBound : 0
        return ChunkGeometry.pieces(pieces, of: layout.collective, root: layout.root, worldSize: layout.worldSize,
                                    heldBy: layout.rank)
            .map { i in
                let p = pieces[i]
                return (p, UnsafeRawBufferPointer(start: recv + (p.range.lowerBound - base) * size, count: p.range.count * size))
            }
    }

    /// Digests of the pieces this rank holds, in order: what the coordinator checks against its replay.
    func digests() -> [UInt64] { heldPieces().map { Digest.of($0.bytes) } }

    /// This rank's part of chunk `k` (the whole chunk but at a reduce-scatter's block edges): what
    /// the coordinator asks for to name the first differing element.
    func heldData(_ k: Int) -> Data? { heldPieces().first { $0.piece.chunk == k }.map { Data($0.bytes) } }
}
