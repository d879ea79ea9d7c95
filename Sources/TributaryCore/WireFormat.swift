import Foundation

/// Wire format v1 (docs/PROTOCOL.md): a 12-byte preamble, then a control body (JSON, or the binary
/// `OperationReportCodec` body for the per-operation report) or a chunk body (56-byte `ChunkHeader`
/// + payload). All integers little-endian.
///
/// Preamble: magic u32 'TRBY' | version u8 | kind u8 | reserved u16 (0) | body length u32.
public enum WireFormat {
    public static let version: UInt8 = 1
    /// 'T','R','B','Y' read as a little-endian u32.
    public static let magic: UInt32 = 0x5942_5254
    public static let preambleSize = 12
    /// Default largest body a receiver accepts: a 64 MiB chunk plus its header.
    public static let defaultMaxBody = 64 << 20 + ChunkHeader.encodedSize
    /// Default largest control body a receiver accepts: 16 MiB. Control bodies are JSON (but the
    /// binary `opReport`), decoded whole once they are in, at several times their size in memory, so
    /// they get a tighter bound than chunks; not much tighter, because an `opReport` in validation
    /// mode ships the rank's input (up to `InputSource.maxShippedBytes`, 8 MiB, as its bytes).
    public static let defaultMaxControlBody = 16 << 20
    /// A limit for both kinds of frame while a peer has not yet authenticated (its hello is a few
    /// hundred bytes): what an owner passes to `FrameParser.setLimits` until the hello checks out.
    public static let preAuthenticationMaxBody = 64 << 10

    // MARK: Encoding

    /// Encodes a whole frame.
    public static func encode(_ frame: Frame) -> [UInt8] {
        var out: [UInt8] = []
        encode(frame, into: &out)
        return out
    }

    public static func encode(_ frame: Frame, into out: inout [UInt8]) {
        switch frame {
        case .control(let message):
            let body = encodeControl(message)
            out.reserveCapacity(out.count + preambleSize + body.count)
            appendPreamble(kind: .control, bodyLength: body.count, into: &out)
            out.append(contentsOf: body)
        case .chunk(let header, let payload):
            out.reserveCapacity(out.count + preambleSize + ChunkHeader.encodedSize + payload.count)
            appendPreamble(kind: .chunk, bodyLength: ChunkHeader.encodedSize + payload.count, into: &out)
            appendChunkHeader(header, into: &out)
            out.append(contentsOf: payload)
        }
    }

    public static func appendPreamble(kind: Frame.Kind, bodyLength: Int, version: UInt8 = version,
                                      into out: inout [UInt8]) {
        appendLE(magic, &out)
        out.append(version)
        out.append(kind.rawValue)
        appendLE(UInt16(0), &out)
        appendLE(UInt32(truncatingIfNeeded: bodyLength), &out)
    }

    public static func appendChunkHeader(_ h: ChunkHeader, into out: inout [UInt8]) {
        appendLE(h.job, &out)
        appendLE(h.origin, &out)
        appendLE(h.opSeq, &out)
        appendLE(h.totalCount, &out)
        appendLE(h.elementOffset, &out)
        appendLE(h.chunkIndex, &out)
        appendLE(h.chunkCount, &out)
        appendLE(h.elementCount, &out)
        out.append(h.collective.rawValue)
        out.append(h.dtype.rawValue)
        out.append(h.op.rawValue)
        out.append(h.flags.rawValue)
        appendLE(h.root, &out)
        appendLE(h.payloadLength, &out)
    }

    /// Writes the preamble and chunk header (68 bytes) to `p`, for transports that place the
    /// payload themselves without building an intermediate array.
    public static func writeChunkPrefix(_ h: ChunkHeader, to p: UnsafeMutableRawBufferPointer) {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(preambleSize + ChunkHeader.encodedSize)
        appendPreamble(kind: .chunk, bodyLength: ChunkHeader.encodedSize + Int(h.payloadLength), into: &bytes)
        appendChunkHeader(h, into: &bytes)
        bytes.withUnsafeBytes { p.copyMemory(from: $0) }
    }

    public static func encodeControl(_ message: ControlMessage) -> [UInt8] {
        // The per-operation report is binary (`OperationReportCodec`); everything else is JSON.
        if case .opReport(let report) = message { return OperationReportCodec.encode(report) }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        // Encoding our own value types cannot fail; a failure is a programming error.
        return Array(try! encoder.encode(message))
    }

    // MARK: Decoding

    /// The decoded preamble.
    public struct Preamble: Sendable, Equatable {
        public var kind: Frame.Kind
        public var bodyLength: Int
    }

    /// Validates the preamble at the start of `bytes`. Returns nil when fewer than 12 bytes are
    /// present; throws as soon as the 12 bytes are wrong, so garbage is rejected before its body.
    /// A control body is held to the smaller of `maxControlBody` and `maxBody`.
    public static func parsePreamble(_ bytes: UnsafeRawBufferPointer, maxBody: Int = defaultMaxBody,
                                     maxControlBody: Int = defaultMaxControlBody) throws(WireError) -> Preamble? {
        guard bytes.count >= preambleSize else {
            // Reject a wrong magic as early as its first bytes allow.
            var expected = magic
            for i in 0..<min(bytes.count, 4) {
                if bytes[i] != UInt8(truncatingIfNeeded: expected) {
                    throw .badMagic(found: readPartial(bytes, count: min(bytes.count, 4)))
                }
                expected >>= 8
            }
            return nil
        }
        let m = readLE(UInt32.self, bytes, 0)
        guard m == magic else { throw .badMagic(found: m) }
        let v = bytes[4]
        guard v == version else { throw .unsupportedVersion(found: v, supported: version) }
        guard let kind = Frame.Kind(rawValue: bytes[5]) else { throw .unknownKind(bytes[5]) }
        let reserved = readLE(UInt16.self, bytes, 6)
        guard reserved == 0 else { throw .reservedBitsSet(reserved) }
        let length = Int(readLE(UInt32.self, bytes, 8))
        let limit = kind == .control ? min(maxBody, maxControlBody) : maxBody
        guard length <= limit else { throw .oversized(length: length, limit: limit) }
        if kind == .chunk && length < ChunkHeader.encodedSize {
            throw .lengthMismatch("chunk body of \(length) bytes is shorter than its \(ChunkHeader.encodedSize)-byte header")
        }
        return Preamble(kind: kind, bodyLength: length)
    }

    /// Decodes one complete frame (preamble + body) that occupies all of `bytes`.
    public static func decode(_ bytes: UnsafeRawBufferPointer, maxBody: Int = defaultMaxBody,
                              maxControlBody: Int = defaultMaxControlBody) throws(WireError) -> Frame {
        guard let preamble = try parsePreamble(bytes, maxBody: maxBody, maxControlBody: maxControlBody) else {
            throw .short(need: preambleSize, have: bytes.count)
        }
        let total = preambleSize + preamble.bodyLength
        guard bytes.count >= total else { throw .short(need: total, have: bytes.count) }
        guard bytes.count == total else {
            throw .lengthMismatch("frame announces \(total) bytes but \(bytes.count) were given")
        }
        let body = UnsafeRawBufferPointer(rebasing: bytes[preambleSize..<total])
        return try decodeBody(kind: preamble.kind, body: body)
    }

    /// Decodes a body whose preamble was already validated.
    public static func decodeBody(kind: Frame.Kind, body: UnsafeRawBufferPointer) throws(WireError) -> Frame {
        switch kind {
        case .control:
            return .control(try decodeControl(body))
        case .chunk:
            let header = try decodeChunkHeader(body)
            let payload = Array(UnsafeRawBufferPointer(rebasing: body[ChunkHeader.encodedSize...]))
            return .chunk(header, payload: payload)
        }
    }

    /// Decodes and validates a chunk header at the start of a chunk body of `body.count` bytes.
    public static func decodeChunkHeader(_ body: UnsafeRawBufferPointer) throws(WireError) -> ChunkHeader {
        try decodeChunkHeader(body, bodyLength: body.count)
    }

    /// Decodes and validates a chunk header given only its first 56 bytes and the body length the
    /// preamble announced, so a streaming reader can check everything before the payload arrives.
    public static func decodeChunkHeader(_ body: UnsafeRawBufferPointer, bodyLength: Int) throws(WireError)
        -> ChunkHeader {
        guard body.count >= ChunkHeader.encodedSize else {
            throw .short(need: ChunkHeader.encodedSize, have: body.count)
        }
        guard let collective = Collective(rawValue: body[44]) else { throw .unknownCollective(body[44]) }
        guard let dtype = DType(rawValue: body[45]) else { throw .unknownDType(body[45]) }
        guard let op = ReduceOp(rawValue: body[46]) else { throw .unknownOp(body[46]) }
        let flags = ChunkHeader.Flags(rawValue: body[47])
        guard ChunkHeader.Flags.known.isSuperset(of: flags) else { throw .unknownFlags(body[47]) }
        guard op.supports(dtype) else { throw .opNotSupported(op: op, dtype: dtype) }
        let h = ChunkHeader(
            job: readLE(UInt32.self, body, 0), origin: readLE(UInt32.self, body, 4),
            opSeq: readLE(UInt64.self, body, 8), totalCount: readLE(UInt64.self, body, 16),
            elementOffset: readLE(UInt64.self, body, 24), chunkIndex: readLE(UInt32.self, body, 32),
            chunkCount: readLE(UInt32.self, body, 36), elementCount: readLE(UInt32.self, body, 40),
            collective: collective, dtype: dtype, op: op, flags: flags, root: readLE(UInt32.self, body, 48),
            payloadLength: readLE(UInt32.self, body, 52))
        let payload = bodyLength - ChunkHeader.encodedSize
        guard Int(h.payloadLength) == payload else {
            throw .lengthMismatch("header says payload \(h.payloadLength) bytes, body carries \(payload)")
        }
        if flags.contains(.empty) {
            guard payload == 0 else { throw .lengthMismatch("empty chunk carries \(payload) payload bytes") }
        } else {
            let expected = Int(h.elementCount) * dtype.size
            guard payload == expected else {
                throw .lengthMismatch("\(h.elementCount) × \(dtype) = \(expected) bytes, payload is \(payload)")
            }
        }
        guard h.chunkCount > 0, h.chunkIndex < h.chunkCount else {
            throw .badGeometry("chunk index \(h.chunkIndex) of \(h.chunkCount)")
        }
        let (end, overflow) = h.elementOffset.addingReportingOverflow(UInt64(h.elementCount))
        guard !overflow, end <= h.totalCount else {
            throw .badGeometry("elements \(h.elementOffset)..<\(h.elementOffset &+ UInt64(h.elementCount)) exceed count \(h.totalCount)")
        }
        return h
    }

    public static func decodeControl(_ body: UnsafeRawBufferPointer) throws(WireError) -> ControlMessage {
        if body.first == OperationReportCodec.tag { return .opReport(try OperationReportCodec.decode(body)) }
        do {
            return try JSONDecoder().decode(ControlMessage.self, from: Data(body))
        } catch let error as DecodingError {
            throw .malformedControl(describe(error))
        } catch {
            throw .malformedControl("\(error)")
        }
    }

    private static func describe(_ error: DecodingError) -> String {
        switch error {
        case .dataCorrupted(let c): return "data corrupted at \(path(c.codingPath)): \(c.debugDescription)"
        case .keyNotFound(let k, let c): return "missing key '\(k.stringValue)' at \(path(c.codingPath))"
        case .typeMismatch(let t, let c): return "expected \(t) at \(path(c.codingPath))"
        case .valueNotFound(let t, let c): return "missing \(t) value at \(path(c.codingPath))"
        @unknown default: return "\(error)"
        }
    }

    private static func path(_ p: [CodingKey]) -> String {
        p.isEmpty ? "top level" : p.map(\.stringValue).joined(separator: ".")
    }

    // MARK: Little-endian helpers

    @inline(__always)
    static func appendLE<T: FixedWidthInteger>(_ value: T, _ out: inout [UInt8]) {
        var v = value.littleEndian
        withUnsafeBytes(of: &v) { out.append(contentsOf: $0) }
    }

    @inline(__always)
    static func readLE<T: FixedWidthInteger>(_: T.Type, _ bytes: UnsafeRawBufferPointer, _ offset: Int) -> T {
        T(littleEndian: bytes.loadUnaligned(fromByteOffset: offset, as: T.self))
    }

    private static func readPartial(_ bytes: UnsafeRawBufferPointer, count: Int) -> UInt32 {
        var v: UInt32 = 0
        for i in 0..<count { v |= UInt32(bytes[i]) << (8 * UInt32(i)) }
        return v
    }
}

/// Reassembles frames from a byte stream fed in arbitrary pieces (one byte at a time included).
/// Used by tests and tools; after an error the stream is dead.
public struct FrameAccumulator: Sendable {
    private var parser: FrameParser

    public init(maxBody: Int = WireFormat.defaultMaxBody, maxControlBody: Int = WireFormat.defaultMaxControlBody) {
        parser = FrameParser(maxBody: maxBody, maxControlBody: maxControlBody)
    }

    /// Appends bytes and returns every frame now complete.
    public mutating func feed(_ bytes: some Sequence<UInt8>) throws(WireError) -> [Frame] {
        let array = Array(bytes)
        var frames: [Frame] = []
        var parser = self.parser
        defer { self.parser = parser }
        _ = try withBytes(array) { (raw) throws(WireError) in try parser.feed(raw) { frames.append($0) } }
        return frames
    }

    /// Bytes received but not yet part of a complete frame.
    public var pendingBytes: Int { parser.pendingBytes }
}
