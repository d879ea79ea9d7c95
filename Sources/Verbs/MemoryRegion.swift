import CVerbs

/// Registered memory (`ibv_reg_mr` / `ibv_dereg_mr`): pinned pages the device may read and write
/// directly, named by a local key (for our own work requests) and a remote key (for a peer's RDMA
/// WRITE into it).
///
/// Either registers a caller's buffer, which the caller keeps alive for as long as this region (and
/// every work request using it) lives, or owns an aligned, zeroed allocation freed after
/// deregistration. Holds its protection domain. `@unchecked Sendable`: the registration is immutable;
/// the bytes themselves are shared with the device, and who writes them when is the caller's protocol
/// (a buffer must not be touched between posting a work request on it and its completion).
public final class MemoryRegion: @unchecked Sendable {
    /// What the device may do with the memory (`enum ibv_access_flags`).
    public struct Access: OptionSet, Sendable {
        public let rawValue: UInt32
        public init(rawValue: UInt32) { self.rawValue = rawValue }

        public static let localWrite = Access(rawValue: IBV_ACCESS_LOCAL_WRITE.rawValue)
        public static let remoteWrite = Access(rawValue: IBV_ACCESS_REMOTE_WRITE.rawValue)
        public static let remoteRead = Access(rawValue: IBV_ACCESS_REMOTE_READ.rawValue)
        public static let remoteAtomic = Access(rawValue: IBV_ACCESS_REMOTE_ATOMIC.rawValue)
        /// Receive buffers and the targets of a peer's RDMA WRITE (remote write needs local write).
        public static let all: Access = [.localWrite, .remoteWrite, .remoteRead]
    }

    /// A byte range of a region: one scatter/gather element of a work request.
    public struct Segment: Sendable {
        public let region: MemoryRegion
        public let offset: Int
        public let length: Int

        var sge: ibv_sge {
            ibv_sge(addr: region.address + UInt64(offset), length: UInt32(length), lkey: region.lkey)
        }
    }

    let raw: UnsafeMutablePointer<ibv_mr>
    public let protectionDomain: ProtectionDomain
    /// The registered bytes.
    public let buffer: UnsafeMutableRawBufferPointer
    private let ownsBuffer: Bool

    /// Registers `buffer`, which the caller keeps alive and in place while this region lives.
    public init(protectionDomain: ProtectionDomain, registering buffer: UnsafeMutableRawBufferPointer,
                access: Access = .all) throws(VerbsError) {
        raw = try checkNonNull(ibv_reg_mr(protectionDomain.raw, buffer.baseAddress, buffer.count, Int32(access.rawValue))) {
            .regMR(bytes: buffer.count, errno: $0)
        }
        self.protectionDomain = protectionDomain
        self.buffer = buffer
        ownsBuffer = false
    }

    /// Allocates `length` zeroed bytes aligned to `alignment` (a page by default) and registers them.
    public init(protectionDomain: ProtectionDomain, allocating length: Int, alignment: Int = 4096,
                access: Access = .all) throws(VerbsError) {
        precondition(length > 0, "a memory region needs at least one byte")
        let memory = UnsafeMutableRawBufferPointer.allocate(byteCount: length, alignment: alignment)
        memory.initializeMemory(as: UInt8.self, repeating: 0)
        do {
            raw = try checkNonNull(ibv_reg_mr(protectionDomain.raw, memory.baseAddress, length, Int32(access.rawValue))) {
                .regMR(bytes: length, errno: $0)
            }
        } catch {
            memory.deallocate()
            throw error
        }
        self.protectionDomain = protectionDomain
        buffer = memory
        ownsBuffer = true
    }

    deinit {
        ibv_dereg_mr(raw)
        if ownsBuffer {
            buffer.deallocate()
        }
    }

    /// The key our own work requests name the memory by.
    public var lkey: UInt32 { raw.pointee.lkey }
    /// The key a peer names the memory by in an RDMA WRITE or READ.
    public var rkey: UInt32 { raw.pointee.rkey }
    /// The registered address (what a peer puts in `remote_addr`).
    public var address: UInt64 { UInt64(UInt(bitPattern: raw.pointee.addr)) }
    /// The registered length in bytes.
    public var length: Int { raw.pointee.length }

    /// Bytes `offset ..< offset + length` as one scatter/gather element.
    public func segment(offset: Int = 0, length: Int? = nil) -> Segment {
        let length = length ?? (buffer.count - offset)
        precondition(offset >= 0 && length >= 0 && offset + length <= buffer.count,
                     "segment \(offset)..<\(offset + length) outside a region of \(buffer.count) bytes")
        return Segment(region: self, offset: offset, length: length)
    }

    /// Where a peer may RDMA WRITE into bytes `offset…` of this region.
    public func remote(offset: Int = 0) -> RemoteBuffer {
        RemoteBuffer(address: address + UInt64(offset), rkey: rkey)
    }
}
