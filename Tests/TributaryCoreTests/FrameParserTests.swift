import Foundation
import Testing
@testable import TributaryCore

/// `FrameParser` holds memory for the bytes that arrived, never for the length a preamble declared
/// (DESIGN.md §2 contract 4), and enforces its limits at the preamble.
@Suite struct FrameParserTests {
    /// Slack over twice the pending bytes: the 68-byte prefix buffer, the 4 KiB growth floor and
    /// allocator rounding.
    static let slack = 8192

    /// Feeds `stream` in pieces of the given sizes (cycled), checking after every piece that the
    /// parser holds at most twice the bytes pending plus `slack`.
    static func feed(_ stream: [UInt8], to parser: inout FrameParser, pieces: [Int]) throws -> [Frame] {
        var frames: [Frame] = []
        var i = 0
        var k = 0
        while i < stream.count {
            let j = min(stream.count, i + pieces[k % pieces.count])
            try stream[i..<j].withUnsafeBytes { raw in try parser.feed(raw) { frames.append($0) } }
            #expect(parser.retainedBytes <= 2 * parser.pendingBytes + slack,
                    "holds \(parser.retainedBytes) B for \(parser.pendingBytes) B pending")
            i = j
            k += 1
        }
        return frames
    }

    /// A one-chunk f32 frame of `count` elements with arbitrary bit patterns (NaN payloads,
    /// infinities, subnormals and signed zeros included).
    static func chunk(count: UInt32, seed: UInt64 = 5) -> Frame {
        var rng = SplitMix64(seed: seed)
        let header = ChunkHeader(job: 3, origin: 2, opSeq: 9, totalCount: 2 * UInt64(count), elementOffset: 1,
                                 chunkIndex: 1, chunkCount: 2, elementCount: count, collective: .allreduce,
                                 dtype: .f32, op: .sum, flags: [], root: 0, payloadLength: count * 4)
        return .chunk(header, payload: (0..<Int(count) * 4).map { _ in UInt8(truncatingIfNeeded: rng.next()) })
    }

    static func preamble(_ kind: Frame.Kind, bodyLength: Int) -> [UInt8] {
        var bytes: [UInt8] = []
        WireFormat.appendPreamble(kind: kind, bodyLength: bodyLength, into: &bytes)
        return bytes
    }

    /// Twelve bytes declaring the largest control body, or a chunk header declaring a 64 MiB payload,
    /// cost what arrived, not what was declared.
    @Test func declaredLengthsAllocateNothing() throws {
        var parser = FrameParser()
        let control = Self.preamble(.control, bodyLength: WireFormat.defaultMaxControlBody)
        #expect(try Self.feed(control, to: &parser, pieces: [12]).isEmpty)
        #expect(parser.pendingBytes == 12)
        #expect(parser.partialFrameSize == 12 + WireFormat.defaultMaxControlBody)
        #expect(parser.retainedBytes < 1024)
        #expect(try Self.feed(Array("{\"shutdown\":".utf8), to: &parser, pieces: [100]).isEmpty)
        #expect(parser.retainedBytes < Self.slack)

        let elements = UInt32(16 << 20)
        let header = ChunkHeader(job: 1, origin: 0, opSeq: 1, totalCount: UInt64(elements), elementOffset: 0,
                                 chunkIndex: 0, chunkCount: 1, elementCount: elements, collective: .allreduce,
                                 dtype: .f32, op: .sum, flags: [], root: 0, payloadLength: elements * 4)
        var chunk = Self.preamble(.chunk, bodyLength: ChunkHeader.encodedSize + Int(header.payloadLength))
        WireFormat.appendChunkHeader(header, into: &chunk)
        chunk += [UInt8](repeating: 7, count: 100)
        var chunkParser = FrameParser()
        #expect(try Self.feed(chunk, to: &chunkParser, pieces: [68, 100]).isEmpty)
        #expect(chunkParser.pendingBytes == 168)
        #expect(chunkParser.retainedBytes < Self.slack)
    }

    /// A control frame of a few hundred KiB (shipped input), fed one byte at a time.
    @Test func largeControlFrameDripFed() throws {
        var rng = SplitMix64(seed: 11)
        let input = (0..<120_000).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
        let message = ControlMessage.opReport(OperationReport(
            job: 1, rank: 0, opSeq: 1, collective: .allreduce, dtype: .u8, op: .sum, count: input.count, root: 0,
            input: .shipped(Data(input)), chunkDigests: [1, 2], seconds: 0.1, path: "in-network", transport: "tcp"))
        let stream = WireFormat.encode(.control(message))
        #expect(stream.count > 120_000)
        var parser = FrameParser()
        #expect(try Self.feed(stream, to: &parser, pieces: [1]) == [.control(message)])
        #expect(parser.isAtFrameBoundary)
    }

    /// A chunk of awkward length, fed in odd splits straddling the preamble, header and growth
    /// steps, arrives bit for bit; so does the control frame behind it.
    @Test(arguments: [[1], [3, 5, 7], [11, 4093, 4097], [65_537], [1 << 20]])
    func chunkInOddSplitsIsBitExact(pieces: [Int]) throws {
        let chunk = Self.chunk(count: 50_001)
        guard case .chunk(_, let payload) = chunk else { return }
        let frames: [Frame] = [chunk, .control(.shutdown(Shutdown(reason: "done")))]
        var stream: [UInt8] = []
        for frame in frames { WireFormat.encode(frame, into: &stream) }
        var parser = FrameParser()
        let out = try Self.feed(stream, to: &parser, pieces: pieces)
        #expect(out == frames)
        guard case .chunk(_, let received)? = out.first else { return }
        #expect(received.elementsEqual(payload))
        #expect(parser.isAtFrameBoundary)
        #expect(parser.retainedBytes < 1024)
    }

    /// Control bodies have their own, smaller limit (and never more than `maxBody`), checked from the
    /// preamble alone; chunks keep `maxBody`.
    @Test func controlLimitIsEnforcedAtThePreamble() throws {
        var parser = FrameParser(maxBody: 4096, maxControlBody: 1000)
        #expect(throws: WireError.oversized(length: 1001, limit: 1000)) {
            _ = try Self.feed(Self.preamble(.control, bodyLength: 1001), to: &parser, pieces: [12])
        }
        var chunkOK = FrameParser(maxBody: 4096, maxControlBody: 1000)
        #expect(try Self.feed(Self.preamble(.chunk, bodyLength: 4096), to: &chunkOK, pieces: [12]).isEmpty)
        var controlOK = FrameParser(maxBody: 4096, maxControlBody: 1000)
        #expect(try Self.feed(Self.preamble(.control, bodyLength: 1000), to: &controlOK, pieces: [12]).isEmpty)
        var smallBody = FrameParser(maxBody: 500)
        #expect(throws: WireError.oversized(length: 501, limit: 500)) {
            _ = try Self.feed(Self.preamble(.control, bodyLength: 501), to: &smallBody, pieces: [12])
        }
        var defaults = FrameParser()
        let over = WireFormat.defaultMaxControlBody + 1
        #expect(throws: WireError.oversized(length: over, limit: WireFormat.defaultMaxControlBody)) {
            _ = try Self.feed(Self.preamble(.control, bodyLength: over), to: &defaults, pieces: [12])
        }
        let raw = Self.preamble(.control, bodyLength: 1001) + [UInt8](repeating: 0x20, count: 1001)
        #expect(throws: WireError.oversized(length: 1001, limit: 1000)) {
            _ = try raw.withUnsafeBytes { bytes throws(WireError) in
                try WireFormat.decode(bytes, maxControlBody: 1000)
            }
        }
    }

    /// `setLimits` governs the next preamble; a frame already announced completes under the old ones.
    @Test func setLimitsAppliesToTheNextFrame() throws {
        let frame = Self.chunk(count: 500)
        let chunk = WireFormat.encode(frame)
        let hello = Frame.control(.hello(Hello(role: .worker, name: "rank 0", job: 1, childIndex: 0)))
        let helloBytes = WireFormat.encode(hello)
        var parser = FrameParser()
        #expect(try Self.feed(Array(chunk.prefix(100)), to: &parser, pieces: [100]).isEmpty)
        parser.setLimits(maxBody: 1024, maxControlBody: helloBytes.count - 12)
        #expect(parser.maxBody == 1024 && parser.maxControlBody == helloBytes.count - 12)
        let rest = try Self.feed(Array(chunk.dropFirst(100)) + helloBytes, to: &parser, pieces: [7])
        #expect(rest == [frame, hello])
        #expect(throws: WireError.oversized(length: chunk.count - 12, limit: 1024)) {
            _ = try Self.feed(chunk, to: &parser, pieces: [chunk.count])
        }
        var tight = FrameParser()
        tight.setLimits(maxBody: WireFormat.preAuthenticationMaxBody, maxControlBody: 16)
        #expect(throws: WireError.oversized(length: helloBytes.count - 12, limit: 16)) {
            _ = try Self.feed(helloBytes, to: &tight, pieces: [helloBytes.count])
        }
    }
}
