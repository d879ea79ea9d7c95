/// A streaming frame reader that copies payload bytes from the read buffer straight into the
/// frame's own array: no intermediate cumulation buffer, whatever the read sizes (a frame read whole
/// is copied once; one read in pieces may also be moved as its array grows, see `append`). Every
/// field is validated as soon as its bytes are in (the preamble before the header, the header before
/// the payload), so garbage costs at most 68 buffered bytes. After an error the parser is dead.
///
/// Memory follows the bytes that arrived, never the length a peer declared (DESIGN.md §2 contract 4):
/// a body array grows as its bytes come in (see `append`), so twelve bytes announcing 64 MiB cost
/// twelve bytes, not 64 MiB.
public struct FrameParser: Sendable {
    /// Largest body accepted (a chunk's header and payload).
    public private(set) var maxBody: Int
    /// Largest control body accepted; the smaller of this and `maxBody` applies.
    public private(set) var maxControlBody: Int
    private var state = State.preamble
    private var prefix: [UInt8] = []
    /// The body arriving (control JSON or an unplaced chunk's payload): `body.count` bytes so far.
    private var body: [UInt8] = []
    /// Bytes of a placed payload written so far.
    private var filled = 0
    private var failed: WireError?

    private enum State: Sendable {
        case preamble
        case chunkHeader(bodyLength: Int)
        case payload(ChunkHeader)
        /// The payload goes straight to memory the receiver named (see `Placement`).
        case placed(ChunkHeader, address: Int)
        case controlBody(bodyLength: Int)
    }

    /// Where a chunk's payload should land, if the receiver already knows (a worker placing results
    /// straight into its receive buffer, as RDMA would): the pointer must have room for
    /// `payloadLength` bytes and stay valid until the frame is delivered. A placed chunk is
    /// delivered as `.chunk(header, payload: [])` with `header.payloadLength > 0` — the one case
    /// where the payload array is shorter than the header says.
    public typealias Placement = (ChunkHeader) -> UnsafeMutableRawPointer?

    public init(maxBody: Int = WireFormat.defaultMaxBody, maxControlBody: Int = WireFormat.defaultMaxControlBody) {
        self.maxBody = maxBody
        self.maxControlBody = maxControlBody
        prefix.reserveCapacity(WireFormat.preambleSize + ChunkHeader.encodedSize)
    }

    /// Replaces both limits from the next preamble on (a frame already announced keeps the limits it
    /// passed). An owner tightens them while a peer is unauthenticated — its hello is a few hundred
    /// bytes, so `WireFormat.preAuthenticationMaxBody` for both — and restores the defaults once the
    /// peer has proved who it is, so a stranger cannot make the daemon parse megabytes of JSON.
    public mutating func setLimits(maxBody: Int, maxControlBody: Int) {
        self.maxBody = maxBody
        self.maxControlBody = maxControlBody
    }

    /// Bytes of memory the parser holds (the capacity of its buffers), for tests and diagnostics: it
    /// tracks what has arrived, not what a preamble announced.
    public var retainedBytes: Int { prefix.capacity + body.capacity }

    /// Bytes consumed that do not yet form a complete frame.
    public var pendingBytes: Int {
        switch state {
        case .preamble, .chunkHeader: return prefix.count
        case .payload, .controlBody: return prefix.count + body.count
        case .placed: return prefix.count + filled
        }
    }

    /// True when no partial frame is buffered (a clean place for the stream to end).
    public var isAtFrameBoundary: Bool { pendingBytes == 0 }

    /// Bytes the partial frame needs in all (for the error when a peer closes mid-frame).
    public var partialFrameSize: Int {
        switch state {
        case .preamble: return WireFormat.preambleSize
        case .chunkHeader(let n), .controlBody(let n): return WireFormat.preambleSize + n
        case .payload(let h), .placed(let h, _):
            return WireFormat.preambleSize + ChunkHeader.encodedSize + Int(h.payloadLength)
        }
    }

    /// Consumes `bytes`, calling `emit` for every frame completed.
    public mutating func feed(_ bytes: UnsafeRawBufferPointer, placement: Placement? = nil,
                              _ emit: (Frame) -> Void) throws(WireError) {
        if let failed { throw failed }
        do {
            try consume(bytes, placement, emit)
        } catch {
            failed = error
            throw error
        }
    }

    private mutating func consume(_ bytes: UnsafeRawBufferPointer, _ placement: Placement?,
                                  _ emit: (Frame) -> Void) throws(WireError) {
        var i = 0
        let n = bytes.count
        while i < n {
            switch state {
            case .preamble:
                let take = min(WireFormat.preambleSize - prefix.count, n - i)
                prefix.append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[i..<(i + take)]))
                i += take
                let (maxBody, maxControlBody) = (self.maxBody, self.maxControlBody)
                let pre = try withBytes(prefix) { (raw) throws(WireError) in
                    try WireFormat.parsePreamble(raw, maxBody: maxBody, maxControlBody: maxControlBody)
                }
                guard let pre else { continue }
                switch pre.kind {
                case .chunk:
                    state = .chunkHeader(bodyLength: pre.bodyLength)
                case .control:
                    state = .controlBody(bodyLength: pre.bodyLength)
                    if pre.bodyLength == 0 { try finishControl(emit) }
                }
            case .chunkHeader(let bodyLength):
                let want = WireFormat.preambleSize + ChunkHeader.encodedSize
                let take = min(want - prefix.count, n - i)
                prefix.append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[i..<(i + take)]))
                i += take
                guard prefix.count == want else { continue }
                let header = try withBytes(prefix) { (raw) throws(WireError) in
                    try WireFormat.decodeChunkHeader(UnsafeRawBufferPointer(rebasing: raw[WireFormat.preambleSize...]),
                                                     bodyLength: bodyLength)
                }
                let length = Int(header.payloadLength)
                if length == 0 {
                    emit(.chunk(header, payload: []))
                    reset()
                } else if let target = placement?(header) {
                    filled = 0
                    state = .placed(header, address: Int(bitPattern: target))
                } else {
                    state = .payload(header)
                }
            case .payload(let header):
                let length = Int(header.payloadLength)
                let take = min(length - body.count, n - i)
                append(UnsafeRawBufferPointer(rebasing: bytes[i..<(i + take)]), declared: length)
                i += take
                if body.count == length {
                    let payload = body
                    body = []
                    emit(.chunk(header, payload: payload))
                    reset()
                }
            case .placed(let header, let address):
                let take = min(Int(header.payloadLength) - filled, n - i)
                (UnsafeMutableRawPointer(bitPattern: address)! + filled).copyMemory(from: bytes.baseAddress! + i, byteCount: take)
                filled += take
                i += take
                if filled == Int(header.payloadLength) {
                    emit(.chunk(header, payload: []))
                    reset()
                }
            case .controlBody(let bodyLength):
                let take = min(bodyLength - body.count, n - i)
                append(UnsafeRawBufferPointer(rebasing: bytes[i..<(i + take)]), declared: bodyLength)
                i += take
                if body.count == bodyLength { try finishControl(emit) }
            }
        }
    }

    /// Smallest growth step of a body array, so a drip-fed frame does not reallocate per byte.
    private static let minimumGrowth = 4096

    /// Appends `bytes` to the body of a frame that announced `declared` bytes. Capacity grows only
    /// when the bytes in hand need it: to what is needed now, but at least double (so a frame fed a
    /// byte at a time is moved O(1) times per byte on average, where growing by a fixed step would be
    /// quadratic) and never past the declared length. So it stays under twice the bytes arrived plus
    /// 4 KiB, and a frame fed whole (the common case) is allocated once at its exact size and copied
    /// once; a reallocation's move is the price of not trusting the declared length.
    private mutating func append(_ bytes: UnsafeRawBufferPointer, declared: Int) {
        let needed = body.count + bytes.count
        if needed > body.capacity {
            body.reserveCapacity(min(declared, max(needed, 2 * body.capacity, Self.minimumGrowth)))
        }
        body.append(contentsOf: bytes)
    }

    private mutating func finishControl(_ emit: (Frame) -> Void) throws(WireError) {
        let message = try withBytes(body) { (raw) throws(WireError) in try WireFormat.decodeControl(raw) }
        body = []
        emit(.control(message))
        reset()
    }

    private mutating func reset() {
        prefix.removeAll(keepingCapacity: true)
        filled = 0
        state = .preamble
    }
}

/// `Array.withUnsafeBytes` keeping the closure's typed error.
@inline(__always)
func withBytes<R>(_ array: [UInt8], _ body: (UnsafeRawBufferPointer) throws(WireError) -> R) throws(WireError) -> R {
    let result: Result<R, WireError> = array.withUnsafeBytes { raw in
        do throws(WireError) { return .success(try body(raw)) } catch { return .failure(error) }
    }
    return try result.get()
}
