/// Why bytes from a peer were rejected. Every malformed input maps to one case; the decoder never
/// traps, so one bad peer costs only its own connection.
public enum WireError: Error, Sendable, Equatable, CustomStringConvertible {
    /// A complete frame was expected but only `have` of `need` bytes were given.
    case short(need: Int, have: Int)
    /// The preamble announces a body larger than the receiver accepts (for a control frame, the
    /// smaller control limit), refused before any of the body is read.
    case oversized(length: Int, limit: Int)
    case badMagic(found: UInt32)
    case unsupportedVersion(found: UInt8, supported: UInt8)
    case unknownKind(UInt8)
    case reservedBitsSet(UInt16)
    case unknownDType(UInt8)
    case unknownOp(UInt8)
    case unknownCollective(UInt8)
    case unknownFlags(UInt8)
    case opNotSupported(op: ReduceOp, dtype: DType)
    /// Payload length disagrees with the body length or with count × element size.
    case lengthMismatch(String)
    /// Chunk geometry is impossible (index past count, elements past the total).
    case badGeometry(String)
    /// A control body that is not a valid JSON control message.
    case malformedControl(String)

    public var description: String {
        switch self {
        case .short(let need, let have): return "short frame: need \(need) bytes, have \(have)"
        case .oversized(let length, let limit): return "oversized frame: body \(length) bytes exceeds limit \(limit)"
        case .badMagic(let found):
            return "bad magic 0x\(String(found, radix: 16)) (expected 0x\(String(WireFormat.magic, radix: 16)), 'TRBY')"
        case .unsupportedVersion(let found, let supported):
            return "unsupported protocol version \(found) (this build speaks \(supported))"
        case .unknownKind(let k): return "unknown frame kind \(k)"
        case .reservedBitsSet(let r): return "reserved preamble bits set: 0x\(String(r, radix: 16))"
        case .unknownDType(let d): return "unknown dtype \(d)"
        case .unknownOp(let o): return "unknown reduce op \(o)"
        case .unknownCollective(let c): return "unknown collective \(c)"
        case .unknownFlags(let f): return "unknown chunk flags 0x\(String(f, radix: 16))"
        case .opNotSupported(let op, let dtype): return "op \(op) is not defined for dtype \(dtype)"
        case .lengthMismatch(let s): return "length mismatch: \(s)"
        case .badGeometry(let s): return "bad chunk geometry: \(s)"
        case .malformedControl(let s): return "malformed control message: \(s)"
        }
    }
}
