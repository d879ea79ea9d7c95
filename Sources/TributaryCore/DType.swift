/// Element types the fabric can reduce. Raw values are the wire encoding (docs/PROTOCOL.md).
public enum DType: UInt8, Sendable, Codable, CaseIterable, CustomStringConvertible {
    case f32 = 1
    case f64 = 2
    case f16 = 3
    case bf16 = 4
    case i32 = 5
    case i64 = 6
    case u32 = 7
    case u64 = 8
    case i8 = 9
    case u8 = 10

    /// Bytes per element.
    public var size: Int {
        switch self {
        case .f32, .i32, .u32: return 4
        case .f64, .i64, .u64: return 8
        case .f16, .bf16: return 2
        case .i8, .u8: return 1
        }
    }

    public var isFloatingPoint: Bool {
        switch self {
        case .f32, .f64, .f16, .bf16: return true
        default: return false
        }
    }

    public var description: String { name }

    /// The name users type (`-d f32`), as in nccl-tests' `-d float` but shorter.
    public var name: String {
        switch self {
        case .f32: return "f32"
        case .f64: return "f64"
        case .f16: return "f16"
        case .bf16: return "bf16"
        case .i32: return "i32"
        case .i64: return "i64"
        case .u32: return "u32"
        case .u64: return "u64"
        case .i8: return "i8"
        case .u8: return "u8"
        }
    }

    /// Parses a user-facing name; accepts the nccl-tests spellings too (`float`, `half`, `int32`).
    public init?(name: String) {
        switch name.lowercased() {
        case "f32", "float", "float32": self = .f32
        case "f64", "double", "float64": self = .f64
        case "f16", "half", "float16": self = .f16
        case "bf16", "bfloat16": self = .bf16
        case "i32", "int", "int32": self = .i32
        case "i64", "int64": self = .i64
        case "u32", "uint32": self = .u32
        case "u64", "uint64": self = .u64
        case "i8", "int8": self = .i8
        case "u8", "uint8": self = .u8
        default: return nil
        }
    }
}

/// Reduction operators. Raw values are the wire encoding.
public enum ReduceOp: UInt8, Sendable, Codable, CaseIterable, CustomStringConvertible {
    case sum = 1
    case prod = 2
    case min = 3
    case max = 4
    case band = 5
    case bor = 6
    case bxor = 7

    public var description: String { name }

    public var name: String {
        switch self {
        case .sum: return "sum"
        case .prod: return "prod"
        case .min: return "min"
        case .max: return "max"
        case .band: return "band"
        case .bor: return "bor"
        case .bxor: return "bxor"
        }
    }

    public init?(name: String) {
        switch name.lowercased() {
        case "sum": self = .sum
        case "prod": self = .prod
        case "min": self = .min
        case "max": self = .max
        case "band", "and": self = .band
        case "bor", "or": self = .bor
        case "bxor", "xor": self = .bxor
        default: return nil
        }
    }

    /// Bitwise operators are defined for integer types only.
    public var isBitwise: Bool { self == .band || self == .bor || self == .bxor }

    /// Whether `self` can reduce elements of `dtype`.
    public func supports(_ dtype: DType) -> Bool { !(isBitwise && dtype.isFloatingPoint) }
}

/// Collective operations carried by the fabric. Raw values are the wire encoding.
public enum Collective: UInt8, Sendable, Codable, CaseIterable, CustomStringConvertible {
    case allreduce = 1
    case reduce = 2
    case broadcast = 3
    case barrier = 4
    /// Every rank's whole vector reduced; rank r receives only block r (`root` carries the block's
    /// element count). The up path is an allreduce's; the down path sends each subtree only the
    /// chunks that overlap its ranks' blocks.
    case reduceScatter = 5
    /// Rank r's block (`root` elements) becomes block r of every rank's vector. Each block travels
    /// up once (a chunk only from the ranks whose blocks it overlaps, zero-padded, OR-folded) and
    /// the whole vector comes down to everyone.
    case allGather = 6

    public var description: String {
        switch self {
        case .allreduce: return "allreduce"
        case .reduce: return "reduce"
        case .broadcast: return "broadcast"
        case .barrier: return "barrier"
        case .reduceScatter: return "reduce-scatter"
        case .allGather: return "all-gather"
        }
    }

    /// Reduce-scatter and all-gather: the operation's vector is `worldSize` blocks, one per rank,
    /// and the header's `root` field carries the block's element count.
    public var isBlockwise: Bool { self == .reduceScatter || self == .allGather }

    /// The ranks that receive result data for the elements `range` of an operation (`root`: the
    /// root rank, or the block count of a blockwise collective).
    public func receivers(of range: Range<Int>, root: Int, worldSize: Int) -> Range<Int> {
        switch self {
        case .allreduce, .broadcast, .allGather: return 0..<worldSize
        case .reduce: return root..<(root + 1)
        case .barrier: return 0..<0
        case .reduceScatter: return BlockLayout(blockCount: root, worldSize: worldSize).ranks(overlapping: range)
        }
    }

    /// The ranks that send data (not only credit) for the elements `range`.
    public func contributors(of range: Range<Int>, root: Int, worldSize: Int) -> Range<Int> {
        switch self {
        case .allreduce, .reduce, .reduceScatter: return 0..<worldSize
        case .broadcast: return root..<(root + 1)
        case .barrier: return 0..<0
        case .allGather: return BlockLayout(blockCount: root, worldSize: worldSize).ranks(overlapping: range)
        }
    }
}
