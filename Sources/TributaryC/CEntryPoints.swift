import Foundation
import TributaryCore
import TributaryCAPI
import Worker

// The functions tributary.h declares, as C symbols. Each turns its arguments into Swift values,
// runs the operation on the communicator (blocking the calling thread) and maps failures to a
// result code plus the thread's last-error text.

/// The last failure's text, per thread (the pointer `tributary_last_error` returns stays valid
/// until the thread's next failure).
private final class LastError: @unchecked Sendable {
    var text: UnsafeMutablePointer<CChar>? = strdup("")
    deinit { free(text) }
}
private let lastErrorKey: pthread_key_t = {
    var key = pthread_key_t()
    pthread_key_create(&key) { if let slot = $0 { Unmanaged<LastError>.fromOpaque(slot).release() } }
    return key
}()
private func lastError() -> LastError {
    if let slot = pthread_getspecific(lastErrorKey) { return Unmanaged<LastError>.fromOpaque(slot).takeUnretainedValue() }
    let created = LastError()
    pthread_setspecific(lastErrorKey, Unmanaged.passRetained(created).toOpaque())
    return created
}

/// Runs `body`; success, or the failure's code with its text kept for `tributary_last_error`.
private func outcome(_ body: () throws -> Void) -> tributary_result_t {
    do {
        try body()
        return TRIBUTARY_SUCCESS
    } catch {
        let (code, text): (tributary_result_t, String) = switch error {
        case let e as CAPIError: (e.code, e.description)
        case let e as WorkerError: (e.isArgumentError ? TRIBUTARY_ERROR_INVALID_ARGUMENT : TRIBUTARY_ERROR_OPERATION, "\(e)")
        default: (TRIBUTARY_ERROR_OPERATION, "\(error)")
        }
        let slot = lastError()
        free(slot.text)
        slot.text = strdup(text)
        // Said only when asked: a caller that handles the error decides what its user sees.
        if ProcessInfo.processInfo.environment["TRIBUTARY_DEBUG"] == "1" {
            FileHandle.standardError.write(Data("tributary: \(text)\n".utf8))
        }
        return code
    }
}

private func handle(_ comm: OpaquePointer?) throws -> CommunicatorHandle {
    guard let comm else { throw CAPIError(TRIBUTARY_ERROR_INVALID_ARGUMENT, "null communicator") }
    return Unmanaged<CommunicatorHandle>.fromOpaque(UnsafeRawPointer(comm)).takeUnretainedValue()
}

private func element(_ dtype: tributary_dtype_t) throws -> DType {
    guard let value = UInt8(exactly: dtype.rawValue), let d = DType(rawValue: value) else {
        throw CAPIError(TRIBUTARY_ERROR_INVALID_ARGUMENT, "unknown dtype \(dtype.rawValue)")
    }
    return d
}

private func reduction(_ op: tributary_op_t, _ dtype: DType) throws -> ReduceOp {
    guard let value = UInt8(exactly: op.rawValue), let o = ReduceOp(rawValue: value) else {
        throw CAPIError(TRIBUTARY_ERROR_INVALID_ARGUMENT, "unknown op \(op.rawValue)")
    }
    guard o.supports(dtype) else { throw CAPIError(TRIBUTARY_ERROR_INVALID_ARGUMENT, "op \(o) is not defined for \(dtype)") }
    return o
}

private func elements(_ count: Int) throws -> Int {
    guard count >= 0, count <= Int(Int32.max) * 64 else {
        throw CAPIError(TRIBUTARY_ERROR_INVALID_ARGUMENT, "count \(count) out of range")
    }
    return count
}

/// Fills `info` and turns a failed validation into NOT_BIT_EXACT.
private func report(_ result: OperationResult, _ info: UnsafeMutablePointer<tributary_op_info>?) throws {
    if let info {
        info.pointee.op_seq = result.opSeq
        info.pointee.in_network = result.path.hasPrefix("in-network") ? 1 : 0
        info.pointee.bit_exact = result.bitExact.map { $0 ? 1 : 0 } ?? -1
        info.pointee.seconds = result.seconds
        info.pointee.bytes_sent = UInt64(result.bytesSent)
        info.pointee.bytes_received = UInt64(result.bytesReceived)
        withUnsafeMutableBytes(of: &info.pointee.path) { raw in
            let bytes = Array(result.path.utf8.prefix(raw.count - 1))
            raw.copyBytes(from: bytes)
            raw[bytes.count] = 0
        }
    }
    if result.bitExact == false {
        throw CAPIError(TRIBUTARY_ERROR_NOT_BIT_EXACT, "op #\(result.opSeq) \(result.collective) is not bit-exact "
                        + "against the host replay: \(result.detail)")
    }
}

@_cdecl("tributary_config_init")
public func tributaryConfigInit(_ config: UnsafeMutablePointer<tributary_config>?) {
    guard let config else { return }
    config.pointee = .unset
}

@_cdecl("tributary_init")
public func tributaryInit(_ comm: UnsafeMutablePointer<OpaquePointer?>?) -> tributary_result_t {
    tributaryInitConfig(nil, comm)
}

@_cdecl("tributary_init_config")
public func tributaryInitConfig(_ config: UnsafePointer<tributary_config>?,
                                _ comm: UnsafeMutablePointer<OpaquePointer?>?) -> tributary_result_t {
    outcome {
        guard let comm else { throw CAPIError(TRIBUTARY_ERROR_INVALID_ARGUMENT, "null tributary_comm ** argument") }
        comm.pointee = nil
        let joined = try JoinSettings.resolve(config?.pointee).join()
        comm.pointee = OpaquePointer(Unmanaged.passRetained(joined).toOpaque())
    }
}

@_cdecl("tributary_rank")
public func tributaryRank(_ comm: OpaquePointer?) -> Int32 {
    (try? handle(comm)).map { Int32($0.communicator.rank) } ?? -1
}

@_cdecl("tributary_size")
public func tributarySize(_ comm: OpaquePointer?) -> Int32 {
    (try? handle(comm)).map { Int32($0.communicator.worldSize) } ?? -1
}

@_cdecl("tributary_allreduce")
public func tributaryAllreduce(_ comm: OpaquePointer?, _ send: UnsafeRawPointer?, _ recv: UnsafeMutableRawPointer?,
                               _ count: Int, _ dtype: tributary_dtype_t, _ op: tributary_op_t,
                               _ info: UnsafeMutablePointer<tributary_op_info>?) -> tributary_result_t {
    outcome {
        let h = try handle(comm), d = try element(dtype), o = try reduction(op, d), n = try elements(count)
        let buffers = UncheckedBox((send, recv)), validation = h.validation
        try report(h.serially {
            try await $0.run(.allreduce, dtype: d, op: o, count: n, send: buffers.value.0, recv: buffers.value.1,
                             validation: validation)
        }, info)
    }
}

@_cdecl("tributary_reduce")
public func tributaryReduce(_ comm: OpaquePointer?, _ send: UnsafeRawPointer?, _ recv: UnsafeMutableRawPointer?,
                            _ count: Int, _ dtype: tributary_dtype_t, _ op: tributary_op_t, _ root: Int32,
                            _ info: UnsafeMutablePointer<tributary_op_info>?) -> tributary_result_t {
    outcome {
        let h = try handle(comm), d = try element(dtype), o = try reduction(op, d), n = try elements(count)
        let buffers = UncheckedBox((send, recv)), validation = h.validation
        try report(h.serially {
            try await $0.run(.reduce, dtype: d, op: o, count: n, root: Int(root), send: buffers.value.0,
                             recv: $0.rank == Int(root) ? buffers.value.1 : nil, validation: validation)
        }, info)
    }
}

@_cdecl("tributary_broadcast")
public func tributaryBroadcast(_ comm: OpaquePointer?, _ buffer: UnsafeMutableRawPointer?, _ count: Int,
                               _ dtype: tributary_dtype_t, _ root: Int32,
                               _ info: UnsafeMutablePointer<tributary_op_info>?) -> tributary_result_t {
    outcome {
        let h = try handle(comm), d = try element(dtype), n = try elements(count)
        let buffer = UncheckedBox(buffer), validation = h.validation
        try report(h.serially {
            try await $0.run(.broadcast, dtype: d, op: .sum, count: n, root: Int(root),
                             send: buffer.value.map { UnsafeRawPointer($0) }, recv: buffer.value, validation: validation)
        }, info)
    }
}

@_cdecl("tributary_barrier")
public func tributaryBarrier(_ comm: OpaquePointer?, _ info: UnsafeMutablePointer<tributary_op_info>?)
    -> tributary_result_t {
    outcome {
        let h = try handle(comm)
        try report(h.serially { try await $0.run(.barrier, dtype: .u8, op: .sum, count: 0, send: nil, recv: nil) }, info)
    }
}

@_cdecl("tributary_reduce_scatter")
public func tributaryReduceScatter(_ comm: OpaquePointer?, _ send: UnsafeRawPointer?, _ recv: UnsafeMutableRawPointer?,
                                   _ recvCount: Int, _ dtype: tributary_dtype_t, _ op: tributary_op_t,
                                   _ info: UnsafeMutablePointer<tributary_op_info>?) -> tributary_result_t {
    outcome {
        let h = try handle(comm), d = try element(dtype), o = try reduction(op, d), n = try elements(recvCount)
        let buffers = UncheckedBox((send, recv)), validation = h.validation
        try report(h.serially {
            try await $0.reduceScatter(dtype: d, op: o, blockCount: n, send: buffers.value.0, recv: buffers.value.1,
                                       validation: validation)
        }, info)
    }
}

@_cdecl("tributary_all_gather")
public func tributaryAllGather(_ comm: OpaquePointer?, _ send: UnsafeRawPointer?, _ recv: UnsafeMutableRawPointer?,
                               _ sendCount: Int, _ dtype: tributary_dtype_t,
                               _ info: UnsafeMutablePointer<tributary_op_info>?) -> tributary_result_t {
    outcome {
        let h = try handle(comm), d = try element(dtype), n = try elements(sendCount)
        let buffers = UncheckedBox((send, recv)), validation = h.validation
        try report(h.serially {
            try await $0.allGather(dtype: d, blockCount: n, send: buffers.value.0, recv: buffers.value.1,
                                   validation: validation)
        }, info)
    }
}

@_cdecl("tributary_finalize")
public func tributaryFinalize(_ comm: OpaquePointer?) -> tributary_result_t {
    outcome {
        guard let comm else { throw CAPIError(TRIBUTARY_ERROR_INVALID_ARGUMENT, "null communicator") }
        let owned = Unmanaged<CommunicatorHandle>.fromOpaque(UnsafeRawPointer(comm))
        owned.takeUnretainedValue().finalize()
        owned.release()
    }
}

@_cdecl("tributary_error_string")
public func tributaryErrorString(_ result: tributary_result_t) -> UnsafePointer<CChar>? {
    let text: StaticString = switch result {
    case TRIBUTARY_SUCCESS: "success"
    case TRIBUTARY_ERROR_INVALID_ARGUMENT: "invalid argument"
    case TRIBUTARY_ERROR_NO_FABRIC: "no fabric reachable (endpoint, client key or job secret missing or wrong)"
    case TRIBUTARY_ERROR_JOIN: "the fabric refused or could not assemble the job"
    case TRIBUTARY_ERROR_OPERATION: "the operation failed"
    case TRIBUTARY_ERROR_NOT_BIT_EXACT: "the result is not bit-exact against the host replay"
    case TRIBUTARY_ERROR_CLOSED: "the communicator is finalized"
    default: "unknown tributary result code"
    }
    return UnsafeRawPointer(text.utf8Start).assumingMemoryBound(to: CChar.self)
}

@_cdecl("tributary_last_error")
public func tributaryLastError() -> UnsafePointer<CChar>? {
    UnsafePointer(lastError().text)
}
