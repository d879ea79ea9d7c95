import Foundation
import TributaryCore

/// Reduce-scatter and all-gather (sharded training's collectives), over raw memory like `run`.
///
/// Both go through the tree as one allreduce, so each is validated by the same host replay: a
/// reduce-scatter reduces the whole vector and each rank keeps its block; an all-gather places
/// each rank's block in a zeroed vector and ORs the vectors' bytes (x | 0 == x bit for bit, for
/// every dtype, NaN payloads and −0 included). The tree's down path therefore carries the whole
/// vector to every rank, and an all-gather's up path carries zeros: a native tree form (each block
/// up once, each rank's block down) is left to do, and `path` says which form ran.
extension Communicator {
    /// `send` holds `worldSize × blockCount` elements; `recv` receives block `rank` of the
    /// reduction. `recv` may point at `send`'s own block (in place).
    public func reduceScatter(dtype: DType, op: ReduceOp, blockCount: Int, send: UnsafeRawPointer?,
                              recv: UnsafeMutableRawPointer?, validation: Validation = .none,
                              algorithm: Algorithm? = nil) async throws -> OperationResult {
        let (total, bytes) = try blockGeometry(blockCount, dtype)
        let whole = UnsafeMutableRawPointer.allocate(byteCount: max(1, total * dtype.size), alignment: 64)
        defer { whole.deallocate() }
        var result = try await run(.allreduce, dtype: dtype, op: op, count: total, send: send, recv: whole,
                                   validation: validation, algorithm: algorithm)
        if bytes > 0, let recv { recv.copyMemory(from: whole + rank * bytes, byteCount: bytes) }
        result.path += " (reduce-scatter as an allreduce, this rank's block kept)"
        return result
    }

    /// `recv` receives `worldSize × blockCount` elements, rank r's `send` as block r. `send` may
    /// be `recv`'s own block (in place).
    public func allGather(dtype: DType, blockCount: Int, send: UnsafeRawPointer?, recv: UnsafeMutableRawPointer?,
                          validation: Validation = .none, algorithm: Algorithm? = nil) async throws -> OperationResult {
        let (total, bytes) = try blockGeometry(blockCount, dtype)
        guard total == 0 || recv != nil else { throw WorkerError.invalidArgument("all-gather needs a receive buffer") }
        if let recv, total > 0 {
            let own = recv + rank * bytes
            if let send, send != UnsafeRawPointer(own) {
                guard send + bytes <= UnsafeRawPointer(recv) || UnsafeRawPointer(recv + total * dtype.size) <= send else {
                    throw WorkerError.invalidArgument("all-gather's send block overlaps the receive buffer "
                                                      + "somewhere other than this rank's block")
                }
                own.copyMemory(from: send, byteCount: bytes)
            }
            memset(recv, 0, rank * bytes)
            memset(own + bytes, 0, (worldSize - rank - 1) * bytes)
        }
        var result = try await run(.allreduce, dtype: .u8, op: .bor, count: total * dtype.size,
                                   send: recv.map { UnsafeRawPointer($0) }, recv: recv, validation: validation,
                                   algorithm: algorithm)
        result.dtype = dtype
        result.count = total
        result.path += " (all-gather as an OR of zero-padded blocks)"
        return result
    }

    private func blockGeometry(_ blockCount: Int, _ dtype: DType) throws -> (elements: Int, blockBytes: Int) {
        guard blockCount >= 0, blockCount <= Int(Int32.max) else {
            throw WorkerError.invalidArgument("block count \(blockCount) out of range")
        }
        let (total, overflow) = blockCount.multipliedReportingOverflow(by: worldSize)
        guard !overflow else { throw WorkerError.invalidArgument("\(worldSize) blocks of \(blockCount) overflow") }
        return (total, blockCount * dtype.size)
    }
}
