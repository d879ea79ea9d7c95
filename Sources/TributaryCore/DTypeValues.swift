/// Element-level helpers for validation reports: locating the first differing element and printing one.
public extension DType {
    /// Index of the first element whose bit pattern differs between `a` and `b`, or nil if they are identical.
    ///
    /// Bits, not values, are compared: `-0` vs `+0` and NaNs with different payloads are differences, and equal
    /// NaNs are not — the fabric promises bit-exact results. If one buffer is longer and the common part is
    /// equal, the answer is the first element that only one of them has.
    func firstDifference(_ a: UnsafeRawBufferPointer, _ b: UnsafeRawBufferPointer) -> Int? {
        let common = Swift.min(a.count, b.count)
        if common > 0, let pa = a.baseAddress, let pb = b.baseAddress {
            var offset = 0
            // Whole words first (fast on long equal prefixes), then bytes to pin the differing byte.
            while common &- offset >= 8,
                  pa.loadUnaligned(fromByteOffset: offset, as: UInt64.self)
                      == pb.loadUnaligned(fromByteOffset: offset, as: UInt64.self) {
                offset &+= 8
            }
            while offset < common {
                if pa.load(fromByteOffset: offset, as: UInt8.self) != pb.load(fromByteOffset: offset, as: UInt8.self) {
                    return offset / size
                }
                offset &+= 1
            }
        }
        return a.count == b.count ? nil : common / size
    }

    /// Element `index` of the buffer at `p`, human readable and as its bit pattern: `1.5 (0x3fc00000)`,
    /// `-nan (0xffc00001)`, `-7 (0xfffffff9)`.
    func format(_ p: UnsafeRawPointer, index: Int) -> String {
        let offset = index * size
        switch self {
        case .f32:
            let bits = p.loadUnaligned(fromByteOffset: offset, as: UInt32.self)
            return "\(Float(bitPattern: bits)) (\(Self.hex(bits)))"
        case .f64:
            let bits = p.loadUnaligned(fromByteOffset: offset, as: UInt64.self)
            return "\(Double(bitPattern: bits)) (\(Self.hex(bits)))"
        case .f16:
            let bits = p.loadUnaligned(fromByteOffset: offset, as: UInt16.self)
            #if (os(macOS) || targetEnvironment(macCatalyst)) && arch(x86_64)
            let value = "\(Reduction.floatFromHalf(bits))"
            #else
            let value = "\(Float16(bitPattern: bits))"
            #endif
            return "\(value) (\(Self.hex(bits)))"
        case .bf16:
            let bits = p.loadUnaligned(fromByteOffset: offset, as: UInt16.self)
            return "\(BFloat16(bitPattern: bits)) (\(Self.hex(bits)))"
        case .i32:
            let bits = p.loadUnaligned(fromByteOffset: offset, as: UInt32.self)
            return "\(Int32(bitPattern: bits)) (\(Self.hex(bits)))"
        case .i64:
            let bits = p.loadUnaligned(fromByteOffset: offset, as: UInt64.self)
            return "\(Int64(bitPattern: bits)) (\(Self.hex(bits)))"
        case .u32:
            let bits = p.loadUnaligned(fromByteOffset: offset, as: UInt32.self)
            return "\(bits) (\(Self.hex(bits)))"
        case .u64:
            let bits = p.loadUnaligned(fromByteOffset: offset, as: UInt64.self)
            return "\(bits) (\(Self.hex(bits)))"
        case .i8:
            let bits = p.load(fromByteOffset: offset, as: UInt8.self)
            return "\(Int8(bitPattern: bits)) (\(Self.hex(bits)))"
        case .u8:
            let bits = p.load(fromByteOffset: offset, as: UInt8.self)
            return "\(bits) (\(Self.hex(bits)))"
        }
    }

    /// `0x` and the bit pattern in lowercase hex, zero-padded to the full width so patterns line up in reports.
    private static func hex<T: FixedWidthInteger & UnsignedInteger>(_ bits: T) -> String {
        let digits = String(bits, radix: 16)
        return "0x" + String(repeating: "0", count: T.bitWidth / 4 - digits.count) + digits
    }
}
