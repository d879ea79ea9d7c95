/// A streaming frame reader that copies every payload byte exactly once, straight into the
/// frame's own array: no intermediate cumulation buffer, whatever the read sizes. Every field is
/// validated as soon as its bytes are in (the preamble before the header, the header before the
/// payload), so garbage costs at most 68 buffered bytes. After an error the parser is dead.
public struct FrameParser: Sendable {
    public let maxBody: Int
    private var state = State.preamble
    private var prefix: [UInt8] = []
    private var body: [UInt8] = []
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

    public init(maxBody: Int = WireFormat.defaultMaxBody) {
        self.maxBody = maxBody
        prefix.reserveCapacity(WireFormat.preambleSize + ChunkHeader.encodedSize)
    }

    /// Bytes consumed that do not yet form a complete frame.
    public var pendingBytes: Int {
        switch state {
        case .preamble, .chunkHeader: return prefix.count
        case .payload, .placed: return prefix.count + filled
        case .controlBody: return prefix.count + filled
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
                let maxBody = self.maxBody
                let pre = try withBytes(prefix) { (raw) throws(WireError) in
                    try WireFormat.parsePreamble(raw, maxBody: maxBody)
                }
                guard let pre else { continue }
                switch pre.kind {
                case .chunk:
                    state = .chunkHeader(bodyLength: pre.bodyLength)
                case .control:
                    state = .controlBody(bodyLength: pre.bodyLength)
                    body = [UInt8](repeating: 0, count: pre.bodyLength)
                    filled = 0
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
                    body = Array(unsafeUninitializedCapacity: length) { _, count in count = length }
                    filled = 0
                    state = .payload(header)
                }
            case .payload(let header):
                let take = min(body.count - filled, n - i)
                let at = filled
                body.withUnsafeMutableBytes { dst in
                    (dst.baseAddress! + at).copyMemory(from: bytes.baseAddress! + i, byteCount: take)
                }
                filled += take
                i += take
                if filled == body.count {
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
            case .controlBody:
                let take = min(body.count - filled, n - i)
                let at = filled
                body.withUnsafeMutableBytes { dst in
                    (dst.baseAddress! + at).copyMemory(from: bytes.baseAddress! + i, byteCount: take)
                }
                filled += take
                i += take
                if filled == body.count { try finishControl(emit) }
            }
        }
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
