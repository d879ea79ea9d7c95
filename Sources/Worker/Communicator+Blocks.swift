import Foundation
import TributaryCore

/// Reduce-scatter and all-gather (sharded training's collectives), over raw memory like `run`.
///
/// Both run natively: in the tree, a reduce-scatter's up path is an allreduce's and its down path
/// sends each subtree only the chunks that overlap its ranks' blocks; an all-gather sends each
/// chunk up only from the ranks whose blocks it overlaps (zero-padded, OR-folded: x | 0 == x bit
/// for bit, NaN payloads and −0 included) and the whole vector down to everyone. On the host ring
/// they are the allreduce's two halves. Both are validated by the same host replay as every
/// collective.
extension Communicator {
    /// `send` holds `worldSize × blockCount` elements; `recv` receives block `rank` of the
    /// reduction. `recv` may point at `send`'s own block (in place).
    public func reduceScatter(dtype: DType, op: ReduceOp, blockCount: Int, send: UnsafeRawPointer?,
                              recv: UnsafeMutableRawPointer?, validation: Validation = .none,
                              algorithm: Algorithm? = nil, measured: Bool = true) async throws -> OperationResult {
        let total = try blockGeometry(blockCount)
        return try await run(.reduceScatter, dtype: dtype, op: op, count: total, root: blockCount, send: send,
                             recv: recv, validation: validation, algorithm: algorithm, measured: measured)
    }

    /// `recv` receives `worldSize × blockCount` elements, rank r's `send` as block r. `send` may
    /// be `recv`'s own block (in place).
    public func allGather(dtype: DType, blockCount: Int, send: UnsafeRawPointer?, recv: UnsafeMutableRawPointer?,
                          validation: Validation = .none, algorithm: Algorithm? = nil,
                          measured: Bool = true) async throws -> OperationResult {
        let total = try blockGeometry(blockCount)
        let bytes = blockCount * dtype.size
        if let recv, let send, total > 0 {
            let own = UnsafeRawPointer(recv + rank * bytes)
            guard send == own || send + bytes <= UnsafeRawPointer(recv)
                    || UnsafeRawPointer(recv + total * dtype.size) <= send else {
                throw WorkerError.invalidArgument("all-gather's send block overlaps the receive buffer "
                                                  + "somewhere other than this rank's block")
            }
        }
        return try await run(.allGather, dtype: dtype, op: .sum, count: total, root: blockCount, send: send,
                             recv: recv, validation: validation, algorithm: algorithm, measured: measured)
    }

    private func blockGeometry(_ blockCount: Int) throws -> Int {
        guard blockCount >= 0, blockCount <= Int(Int32.max) else {
            throw WorkerError.invalidArgument("block count \(blockCount) out of range")
        }
        let (total, overflow) = blockCount.multipliedReportingOverflow(by: worldSize)
        guard !overflow else { throw WorkerError.invalidArgument("\(worldSize) blocks of \(blockCount) overflow") }
        return total
    }
}
