import TributaryCore

/// What must hold for any bytes a peer can put on a connection, checked by the `fuzz-frame-parser`
/// target and by the regression test over every input it ever kept (docs/FUZZING.md).
///
/// The stream is parsed three ways — whole, one byte at a time (placing payloads as a worker does), and
/// in two pieces split where the stream's last byte says — because the parser's state machine has to
/// give the same answer however the reads fall. Beyond "never traps" (ASan and Swift's own checks
/// catch that), every frame must be exactly what the bytes say: a chunk re-encodes to the very bytes
/// it came from, a control message survives its own encoder, and the one-shot `WireFormat.decode`
/// agrees with the streaming parser. Memory must follow the bytes that arrived.
public enum FrameParserCheck {
    /// Slack over twice the pending bytes, as in `FrameParserTests`: the 68-byte prefix buffer, the
    /// 4 KiB growth floor and allocator rounding.
    static let memorySlack = 8192

    /// The violations found (empty when every invariant holds).
    public static func run(_ stream: [UInt8]) -> [String] {
        var problems: [String] = []
        let whole = parse(stream, pieces: [stream.count], place: false, &problems)
        let bytewise = parse(stream, pieces: Array(repeating: 1, count: stream.count), place: true, &problems)
        let cut = stream.isEmpty ? 0 : Int(stream[stream.count - 1]) * stream.count / 256
        let split = parse(stream, pieces: [cut, stream.count - cut], place: false, &problems)
        for (name, other) in [("byte by byte", bytewise), ("split at \(cut)", split)] {
            if let difference = whole.difference(from: other) {
                problems.append("fed whole vs \(name): \(difference)")
            }
        }
        checkFrames(whole, in: stream, &problems)
        return problems
    }

    /// What one way of feeding the stream produced.
    struct Outcome {
        var frames: [Frame] = []
        var error: WireError?
        var pendingBytes = 0
        var partialFrameSize = 0

        /// Why `other` is not the same parse, or nil. A wrong magic may be reported from its first
        /// wrong byte (before four have arrived), so its value depends on the reads; the case does not.
        func difference(from other: Outcome) -> String? {
            if frames != other.frames {
                return "\(frames.count) vs \(other.frames.count) frames, or different ones"
            }
            switch (error, other.error) {
            case (nil, nil):
                if pendingBytes != other.pendingBytes || partialFrameSize != other.partialFrameSize {
                    return "pending \(pendingBytes) of \(partialFrameSize) vs "
                        + "\(other.pendingBytes) of \(other.partialFrameSize)"
                }
                return nil
            case (.badMagic?, .badMagic?):
                return nil
            case let (a?, b?) where a == b:
                return nil
            default:
                return "error \(error.map { "\($0)" } ?? "none") vs \(other.error.map { "\($0)" } ?? "none")"
            }
        }
    }

    /// Feeds `stream` in pieces of the given sizes, checking memory after each; with `place`, every
    /// payload the input could actually fill goes to a buffer of its own (as `FrameParser.Placement`).
    static func parse(_ stream: [UInt8], pieces: [Int], place: Bool, _ problems: inout [String]) -> Outcome {
        var outcome = Outcome()
        var parser = FrameParser()
        // The payload being placed: at most one frame is in flight.
        var placed: UnsafeMutableRawBufferPointer?
        defer { placed?.deallocate() }
        // Only payloads the stream could fill: a declared length is the peer's word, not ours to allocate.
        let placement: FrameParser.Placement? = place ? { header in
            guard Int(header.payloadLength) <= stream.count else { return nil }
            placed?.deallocate()
            placed = .allocate(byteCount: Int(header.payloadLength), alignment: 8)
            return placed?.baseAddress
        } : nil
        // A placed payload is delivered as `[]`: read it from where it was put.
        func deliver(_ frame: Frame) {
            guard case .chunk(let header, let payload) = frame, payload.count < Int(header.payloadLength) else {
                outcome.frames.append(frame)
                return
            }
            guard let buffer = placed, payload.isEmpty, buffer.count == Int(header.payloadLength) else {
                problems.append("chunk delivered with \(payload.count) of \(header.payloadLength) bytes")
                return
            }
            outcome.frames.append(.chunk(header, payload: Array(buffer)))
            buffer.deallocate()
            placed = nil
        }
        var start = 0
        for piece in pieces where outcome.error == nil {
            let end = start + piece
            do {
                try withBytes(stream[start..<end]) { raw throws(WireError) in
                    try parser.feed(raw, placement: placement, deliver)
                }
            } catch {
                outcome.error = error
            }
            if parser.retainedBytes > 2 * parser.pendingBytes + memorySlack {
                problems.append("holds \(parser.retainedBytes) B for \(parser.pendingBytes) B pending")
            }
            start = end
        }
        outcome.pendingBytes = parser.pendingBytes
        outcome.partialFrameSize = parser.partialFrameSize
        return outcome
    }

    /// Each frame is what its bytes say: walking the stream frame by frame (each spans its preamble's
    /// announced length), a chunk re-encodes to exactly its span, a control message re-encodes to
    /// something that decodes to it again, and `WireFormat.decode` of the span gives the same frame.
    static func checkFrames(_ outcome: Outcome, in stream: [UInt8], _ problems: inout [String]) {
        var offset = 0
        for frame in outcome.frames {
            guard stream.count - offset >= WireFormat.preambleSize else {
                problems.append("frame past the stream's end at \(offset)")
                return
            }
            var announced = 0
            for i in 0..<4 { announced |= Int(stream[offset + 8 + i]) << (8 * i) }
            let end = offset + WireFormat.preambleSize + announced
            guard end <= stream.count else {
                problems.append("frame at \(offset) announces \(announced) bytes, past the stream's end")
                return
            }
            let span = Array(stream[offset..<end])
            do {
                let decoded = try withBytes(span) { raw throws(WireError) in try WireFormat.decode(raw) }
                if decoded != frame { problems.append("WireFormat.decode disagrees on the frame at \(offset)") }
            } catch {
                problems.append("WireFormat.decode refuses the frame at \(offset) the parser gave: \(error)")
            }
            switch frame {
            case .chunk:
                if WireFormat.encode(frame) != span { problems.append("chunk at \(offset) re-encodes differently") }
            case .control(let message):
                problems += ControlMessageCheck.roundTrip(message)
            }
            offset = end
        }
        if outcome.error == nil && offset + outcome.pendingBytes != stream.count {
            problems.append("frames end at \(offset) with \(outcome.pendingBytes) pending, of \(stream.count) bytes")
        }
    }
}
