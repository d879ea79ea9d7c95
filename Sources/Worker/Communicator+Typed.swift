import TributaryCore

/// Typed conveniences over `Communicator.run`, shaped like MPI/NCCL calls. Arrays cannot lend
/// their storage across a suspension, so these stage through one aligned buffer; `run` with raw
/// pointers is the zero-copy path.
extension Communicator {
    /// In-place allreduce: every rank ends with the reduction of every rank's `buffer`.
    @discardableResult
    public func allreduce<T: FabricElement>(_ buffer: inout [T], op: ReduceOp, validation: Validation = .none,
                                            algorithm: Algorithm? = nil) async throws -> OperationResult {
        let staging = Staging(buffer)
        defer { staging.free() }
        let result = try await run(.allreduce, dtype: T.dtype, op: op, count: buffer.count,
                                   send: UnsafeRawPointer(staging.pointer), recv: staging.pointer,
                                   validation: validation, algorithm: algorithm)
        staging.copy(into: &buffer)
        return result
    }

    /// Out-of-place allreduce: `send` is left alone, `recv` receives the reduction.
    @discardableResult
    public func allreduce<T: FabricElement>(send: [T], recv: inout [T], op: ReduceOp, validation: Validation = .none,
                                            algorithm: Algorithm? = nil) async throws -> OperationResult {
        guard recv.count == send.count else {
            throw WorkerError.invalidArgument("recv has \(recv.count) elements, send has \(send.count)")
        }
        let input = Staging(send)
        let output = Staging(recv)
        defer { input.free(); output.free() }
        let result = try await run(.allreduce, dtype: T.dtype, op: op, count: send.count,
                                   send: UnsafeRawPointer(input.pointer), recv: output.pointer, validation: validation, algorithm: algorithm)
        output.copy(into: &recv)
        return result
    }

    /// Reduce to `root`: only the root's `recv` is written.
    @discardableResult
    public func reduce<T: FabricElement>(send: [T], recv: inout [T], op: ReduceOp, root: Int,
                                         validation: Validation = .none, algorithm: Algorithm? = nil)
        async throws -> OperationResult {
        guard rank != root || recv.count == send.count else {
            throw WorkerError.invalidArgument("root's recv has \(recv.count) elements, send has \(send.count)")
        }
        let input = Staging(send)
        let output = Staging(recv)
        defer { input.free(); output.free() }
        let result = try await run(.reduce, dtype: T.dtype, op: op, count: send.count, root: root,
                                   send: UnsafeRawPointer(input.pointer), recv: rank == root ? output.pointer : nil,
                                   validation: validation, algorithm: algorithm)
        if rank == root { output.copy(into: &recv) }
        return result
    }

    /// Broadcast from `root`: every rank's `buffer` ends equal to the root's.
    @discardableResult
    public func broadcast<T: FabricElement>(_ buffer: inout [T], root: Int, validation: Validation = .none,
                                            algorithm: Algorithm? = nil) async throws -> OperationResult {
        let staging = Staging(buffer)
        defer { staging.free() }
        let result = try await run(.broadcast, dtype: T.dtype, op: .sum, count: buffer.count, root: root,
                                   send: UnsafeRawPointer(staging.pointer), recv: staging.pointer,
                                   validation: validation, algorithm: algorithm)
        staging.copy(into: &buffer)
        return result
    }

    /// Returns once every rank of the job has entered the barrier.
    @discardableResult
    public func barrier(algorithm: Algorithm? = nil) async throws -> OperationResult {
        try await run(.barrier, dtype: .u8, op: .sum, count: 0, send: nil, recv: nil, algorithm: algorithm)
    }
}

/// An aligned copy of an array's bytes that can live across suspension points.
private struct Staging {
    let pointer: UnsafeMutableRawPointer
    let bytes: Int

    init<T>(_ array: [T]) {
        bytes = array.count * MemoryLayout<T>.stride
        pointer = UnsafeMutableRawPointer.allocate(byteCount: max(bytes, 1), alignment: 64)
        array.withUnsafeBytes { if bytes > 0 { pointer.copyMemory(from: $0.baseAddress!, byteCount: bytes) } }
    }

    func copy<T>(into array: inout [T]) {
        let n = min(bytes, array.count * MemoryLayout<T>.stride)
        array.withUnsafeMutableBytes { if n > 0 { $0.baseAddress!.copyMemory(from: pointer, byteCount: n) } }
    }

    func free() { pointer.deallocate() }
}
