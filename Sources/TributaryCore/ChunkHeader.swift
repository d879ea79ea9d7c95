/// The fixed little-endian header in front of every data-plane chunk (docs/PROTOCOL.md §3).
///
/// Every field an aggregator needs to prove that contributions to one slot belong together is here:
/// job, operation, collective, dtype, op, total count and chunk geometry. `origin` names the sender
/// (a worker's rank, or the lowest rank below an aggregator) so a mismatch can be reported by rank.
public struct ChunkHeader: Sendable, Equatable, Hashable, CustomStringConvertible {
    public static let encodedSize = 56

    /// Flag bits. Unknown bits are rejected by the decoder so a future meaning is never ignored.
    public struct Flags: OptionSet, Sendable, Hashable {
        public let rawValue: UInt8
        public init(rawValue: UInt8) { self.rawValue = rawValue }
        /// Travels down the tree: the reduced result.
        public static let result = Flags(rawValue: 1 << 0)
        /// Carries no payload: a contribution that only grants progress (broadcast non-root) or a
        /// result a rank does not need (reduce to another root).
        public static let empty = Flags(rawValue: 1 << 1)
        public static let known: Flags = [.result, .empty]
    }

    public var job: UInt32
    public var origin: UInt32
    public var opSeq: UInt64
    public var totalCount: UInt64
    public var elementOffset: UInt64
    public var chunkIndex: UInt32
    public var chunkCount: UInt32
    public var elementCount: UInt32
    public var collective: Collective
    public var dtype: DType
    public var op: ReduceOp
    public var flags: Flags
    public var root: UInt32
    public var payloadLength: UInt32

    public init(job: UInt32, origin: UInt32, opSeq: UInt64, totalCount: UInt64, elementOffset: UInt64,
                chunkIndex: UInt32, chunkCount: UInt32, elementCount: UInt32, collective: Collective,
                dtype: DType, op: ReduceOp, flags: Flags, root: UInt32, payloadLength: UInt32) {
        self.job = job
        self.origin = origin
        self.opSeq = opSeq
        self.totalCount = totalCount
        self.elementOffset = elementOffset
        self.chunkIndex = chunkIndex
        self.chunkCount = chunkCount
        self.elementCount = elementCount
        self.collective = collective
        self.dtype = dtype
        self.op = op
        self.flags = flags
        self.root = root
        self.payloadLength = payloadLength
    }

    /// What every contribution to one slot must agree on; compared field by field to name the
    /// disagreement.
    public struct Signature: Sendable, Equatable, Hashable, CustomStringConvertible {
        public var collective: Collective
        public var dtype: DType
        public var op: ReduceOp
        public var totalCount: UInt64
        public var chunkCount: UInt32
        public var elementCount: UInt32
        public var root: UInt32

        public var description: String {
            "\(collective) \(dtype) \(op) count=\(totalCount) chunks=\(chunkCount) chunk-elements=\(elementCount)"
                + (collective == .reduce || collective == .broadcast ? " root=\(root)" : "")
                + (collective.isBlockwise ? " block=\(root)" : "")
        }

        /// Names the fields where `self` and `other` differ, e.g. `dtype f32 vs f64`.
        public func differences(from other: Signature) -> [String] {
            var out: [String] = []
            if collective != other.collective { out.append("collective \(other.collective) vs \(collective)") }
            if dtype != other.dtype { out.append("dtype \(other.dtype) vs \(dtype)") }
            if op != other.op { out.append("op \(other.op) vs \(op)") }
            if totalCount != other.totalCount { out.append("count \(other.totalCount) vs \(totalCount)") }
            if chunkCount != other.chunkCount { out.append("chunk count \(other.chunkCount) vs \(chunkCount)") }
            if elementCount != other.elementCount {
                out.append("chunk elements \(other.elementCount) vs \(elementCount)")
            }
            if root != other.root { out.append("root \(other.root) vs \(root)") }
            return out
        }
    }

    public var signature: Signature {
        Signature(collective: collective, dtype: dtype, op: op, totalCount: totalCount, chunkCount: chunkCount,
                  elementCount: elementCount, root: root)
    }

    public var description: String {
        "job \(job) op#\(opSeq) chunk \(chunkIndex)/\(chunkCount) from \(origin): \(signature)"
            + (flags.contains(.result) ? " [result]" : "") + (flags.contains(.empty) ? " [empty]" : "")
    }
}
