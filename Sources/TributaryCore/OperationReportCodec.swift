import Foundation

/// The binary body of an `opReport` control frame (docs/PROTOCOL.md §4.1).
///
/// Every other control message is JSON, but this one travels from every rank after every
/// operation: profiled during 8-byte allreduces, JSON encoding was a fifth of a worker's CPU and
/// JSON decoding half the coordinator's, on a machine where the processes share two cores and CPU
/// is the latency. A JSON body starts with `{`; this one with `tag`, so a receiver tells them apart
/// by the first byte. Decoding trusts nothing: every length is checked against the bytes present
/// before anything is read or allocated.
///
/// Layout, little-endian: tag u8 | job u32 | rank u32 | opSeq u64 | collective u8 | dtype u8 | op u8 |
/// algorithm u8 | flags u8 (bit 0 measured, bit 1 retried present, bits 2-3 protocol: 0 none,
/// 1 low-latency, 2 streaming) | count u64 | root u64 |
/// seconds f64 | bytesSent u64 | bytesReceived u64 | input: kind u8 (0 none, 1 generated: seed u64,
/// specials u8; 2 shipped: length u32, bytes) | digests: n u32, n × u64 | path, transport
/// [, retried]: length u32, UTF-8.
public enum OperationReportCodec {
    /// First byte of a binary report body (a JSON body's is `{`, 0x7B).
    public static let tag: UInt8 = 0x01

    public static func encode(_ r: OperationReport) -> [UInt8] {
        var out: [UInt8] = []
        let shipped: Data? = if case .shipped(let d) = r.input { d } else { nil }
        out.reserveCapacity(96 + r.chunkDigests.count * 8 + r.path.utf8.count + r.transport.utf8.count
                            + (r.retried?.utf8.count ?? 0) + (shipped?.count ?? 0))
        out.append(tag)
        WireFormat.appendLE(r.job, &out)
        WireFormat.appendLE(UInt32(truncatingIfNeeded: r.rank), &out)
        WireFormat.appendLE(r.opSeq, &out)
        out.append(r.collective.rawValue)
        out.append(r.dtype.rawValue)
        out.append(r.op.rawValue)
        out.append(r.algorithm == .inNetwork ? 0 : 1)
        let proto: UInt8 = switch r.reductionProtocol { case nil: 0; case .lowLatency: 1; case .streaming: 2 }
        out.append((r.measured ? 1 : 0) | (r.retried != nil ? 2 : 0) | proto << 2)
        WireFormat.appendLE(UInt64(truncatingIfNeeded: r.count), &out)
        WireFormat.appendLE(UInt64(truncatingIfNeeded: r.root), &out)
        WireFormat.appendLE(r.seconds.bitPattern, &out)
        WireFormat.appendLE(UInt64(truncatingIfNeeded: r.bytesSent), &out)
        WireFormat.appendLE(UInt64(truncatingIfNeeded: r.bytesReceived), &out)
        switch r.input {
        case .none:
            out.append(0)
        case .generated(let g):
            out.append(1)
            WireFormat.appendLE(g.seed, &out)
            out.append(g.specials ? 1 : 0)
        case .shipped(let bytes):
            out.append(2)
            WireFormat.appendLE(UInt32(truncatingIfNeeded: bytes.count), &out)
            out.append(contentsOf: bytes)
        }
        WireFormat.appendLE(UInt32(truncatingIfNeeded: r.chunkDigests.count), &out)
        for d in r.chunkDigests { WireFormat.appendLE(d, &out) }
        appendString(r.path, &out)
        appendString(r.transport, &out)
        if let retried = r.retried { appendString(retried, &out) }
        return out
    }

    public static func decode(_ body: UnsafeRawBufferPointer) throws(WireError) -> OperationReport {
        var reader = Reader(bytes: body)
        guard try reader.byte("tag") == tag else { throw .malformedControl("binary opReport: wrong tag") }
        let job = try reader.integer(UInt32.self, "job")
        let rank = try reader.integer(UInt32.self, "rank")
        let opSeq = try reader.integer(UInt64.self, "opSeq")
        // Every refusal is a malformed control body, as for a JSON one (the decoder's contract).
        let collectiveByte = try reader.byte("collective")
        guard let collective = Collective(rawValue: collectiveByte) else {
            throw .malformedControl("binary opReport: unknown collective \(collectiveByte)")
        }
        let dtypeByte = try reader.byte("dtype")
        guard let dtype = DType(rawValue: dtypeByte) else {
            throw .malformedControl("binary opReport: unknown dtype \(dtypeByte)")
        }
        let opByte = try reader.byte("op")
        guard let op = ReduceOp(rawValue: opByte) else { throw .malformedControl("binary opReport: unknown op \(opByte)") }
        let algorithm: Algorithm
        switch try reader.byte("algorithm") {
        case 0: algorithm = .inNetwork
        case 1: algorithm = .ring
        case let other: throw .malformedControl("binary opReport: unknown algorithm \(other)")
        }
        let flags = try reader.byte("flags")
        let reductionProtocol: ReductionProtocol?
        switch (flags >> 2) & 3 {
        case 0: reductionProtocol = nil
        case 1: reductionProtocol = .lowLatency
        case 2: reductionProtocol = .streaming
        default: throw .malformedControl("binary opReport: unknown protocol in flags 0x\(String(flags, radix: 16))")
        }
        guard flags & ~15 == 0 else { throw .malformedControl("binary opReport: unknown flags 0x\(String(flags, radix: 16))") }
        let count = try reader.count("count")
        let root = try reader.count("root")
        let seconds = Double(bitPattern: try reader.integer(UInt64.self, "seconds"))
        // A duration: NaN (which is not even equal to itself) or a negative or infinite time is not one.
        guard seconds >= 0 && seconds.isFinite else {
            throw .malformedControl("binary opReport: seconds \(seconds) is not a duration")
        }
        let bytesSent = try reader.count("bytesSent")
        let bytesReceived = try reader.count("bytesReceived")
        let input: InputSource
        switch try reader.byte("input") {
        case 0:
            input = .none
        case 1:
            let seed = try reader.integer(UInt64.self, "input seed")
            let specials = try reader.byte("input specials")
            guard specials <= 1 else { throw .malformedControl("binary opReport: input specials \(specials)") }
            input = .generated(InputGenerator(seed: seed, specials: specials == 1))
        case 2:
            let length = Int(try reader.integer(UInt32.self, "shipped length"))
            input = .shipped(Data(try reader.take(length, "shipped input")))
        case let other:
            throw .malformedControl("binary opReport: unknown input kind \(other)")
        }
        let digestCount = Int(try reader.integer(UInt32.self, "digest count"))
        // Checked against what is present before the array exists: a claim allocates nothing.
        let digestBytes = try reader.take(digestCount * 8, "digests")
        let digests = (0..<digestCount).map {
            UInt64(littleEndian: digestBytes.loadUnaligned(fromByteOffset: $0 * 8, as: UInt64.self))
        }
        let path = try reader.string("path")
        let transport = try reader.string("transport")
        let retried = flags & 2 != 0 ? try reader.string("retried") : nil
        guard reader.remaining == 0 else {
            throw .malformedControl("binary opReport: \(reader.remaining) bytes after the last field")
        }
        var r = OperationReport(job: job, rank: Int(rank), opSeq: opSeq, collective: collective, dtype: dtype,
                                op: op, count: count, root: root, input: input, chunkDigests: digests,
                                seconds: seconds, path: path, transport: transport, algorithm: algorithm,
                                bytesSent: bytesSent, bytesReceived: bytesReceived)
        r.measured = flags & 1 != 0
        r.retried = retried
        r.reductionProtocol = reductionProtocol
        return r
    }

    private static func appendString(_ s: String, _ out: inout [UInt8]) {
        WireFormat.appendLE(UInt32(truncatingIfNeeded: s.utf8.count), &out)
        out.append(contentsOf: s.utf8)
    }

    /// Reads fields in order; each read names the field that ran short.
    private struct Reader {
        let bytes: UnsafeRawBufferPointer
        var offset = 0
        var remaining: Int { bytes.count - offset }

        mutating func take(_ n: Int, _ field: String) throws(WireError) -> UnsafeRawBufferPointer {
            guard n >= 0, n <= remaining else {
                throw .malformedControl("binary opReport: \(field) needs \(n) bytes, \(remaining) left")
            }
            defer { offset += n }
            return UnsafeRawBufferPointer(rebasing: bytes[offset..<offset + n])
        }

        mutating func byte(_ field: String) throws(WireError) -> UInt8 { try take(1, field)[0] }

        mutating func integer<T: FixedWidthInteger>(_: T.Type, _ field: String) throws(WireError) -> T {
            T(littleEndian: try take(MemoryLayout<T>.size, field).loadUnaligned(as: T.self))
        }

        /// A count or size: a u64 that must fit a non-negative Int.
        mutating func count(_ field: String) throws(WireError) -> Int {
            let v = try integer(UInt64.self, field)
            guard v <= UInt64(Int.max) else { throw .malformedControl("binary opReport: \(field) \(v) is out of range") }
            return Int(v)
        }

        mutating func string(_ field: String) throws(WireError) -> String {
            let length = Int(try integer(UInt32.self, "\(field) length"))
            let raw = try take(length, field)
            guard let s = String(validating: raw, as: UTF8.self) else {
                throw .malformedControl("binary opReport: \(field) is not UTF-8")
            }
            return s
        }
    }
}
