import Foundation
import Testing
@testable import TributaryCore

/// Codec round trips and every class of malformed input (docs/PROTOCOL.md).
@Suite struct WireFormatTests {
    static func header(count: UInt32 = 5, dtype: DType = .f32, op: ReduceOp = .sum, flags: ChunkHeader.Flags = [])
        -> ChunkHeader {
        ChunkHeader(job: 7, origin: 3, opSeq: 0x1_0000_0002, totalCount: 1000, elementOffset: 995, chunkIndex: 9,
                    chunkCount: 10, elementCount: count, collective: .allreduce, dtype: dtype, op: op, flags: flags,
                    root: 0, payloadLength: flags.contains(.empty) ? 0 : count * UInt32(dtype.size))
    }

    static func chunkFrame(_ h: ChunkHeader = header()) -> Frame {
        .chunk(h, payload: (0..<Int(h.payloadLength)).map { UInt8(truncatingIfNeeded: $0 &* 37) })
    }

    static let controlSamples: [ControlMessage] = [
        .challenge(Challenge(nonce: "00ff")),
        .hello(Hello(role: .worker, name: "rank 3", job: 2, childIndex: 1, nonce: "ab", proof: "cd")),
        .helloAck(HelloAck(name: "leaf0", proof: "ef")),
        .registerAggregator(AggregatorRegistration(switchName: "leaf0", dataEndpoint: Endpoint(host: "127.0.0.1", port: 9), pid: 4)),
        .registerWorker(WorkerRegistration(jobName: "j", rank: 1, worldSize: 8, host: nil, pid: 5, jobProof: "p",
                                           slotRequest: 3)),
        .listJobs,
        .jobList(JobList(jobs: [JobInfo(id: 7, name: "j", ranks: 8, registered: 8, phase: "running",
                                        path: "in-network", slots: ["leaf0": 16], operations: 3, seconds: 1.5)],
                         ended: 2)),
        .jobEnded(JobEnded(job: 7)),
        .assignAggregator(AggregatorAssignment(
            job: 1, jobName: "j", jobKey: "k", switchName: "spine0", parent: nil, childIndexAtParent: nil,
            children: [.aggregator(name: "leaf0"), .worker(rank: 4)], childRanks: [[0, 1], [4]],
            streaming: StreamingParameters(chunkBytes: 4096, window: 4), slots: 8, slotBytes: 4096)),
        .opReport(OperationReport(job: 1, rank: 2, opSeq: 3, collective: .reduce, dtype: .bf16, op: .max, count: 9,
                                  root: 1, input: .generated(InputGenerator(seed: 5, specials: true)),
                                  chunkDigests: [1, UInt64.max], seconds: 0.5, path: "in-network", transport: "tcp")),
        .opReport(OperationReport(job: 1, rank: 2, opSeq: 3, collective: .allreduce, dtype: .u8, op: .bxor, count: 2,
                                  root: 0, input: .shipped(Data([1, 2])), chunkDigests: [], seconds: 0, path: "p",
                                  transport: "inproc")),
        .error(ErrorReport(kind: .collectiveMismatch, job: 1, opSeq: 2, ranks: [3, 5], reporter: "aggregator leaf0",
                           message: "m")),
        .shutdown(Shutdown(reason: "done")),
    ]

    @Test func controlMessagesRoundTrip() throws {
        for message in Self.controlSamples {
            let bytes = WireFormat.encode(.control(message))
            let decoded = try bytes.withUnsafeBytes { raw throws(WireError) in try WireFormat.decode(raw) }
            #expect(decoded == .control(message))
        }
    }

    @Test(arguments: DType.allCases)
    func chunkFramesRoundTrip(dtype: DType) throws {
        for count: UInt32 in [0, 1, 5] {
            for flags: ChunkHeader.Flags in [[], [.result], [.empty]] {
                let op: ReduceOp = dtype.isFloatingPoint ? .max : .bxor
                let frame = Self.chunkFrame(Self.header(count: count, dtype: dtype, op: op, flags: flags))
                let bytes = WireFormat.encode(frame)
                #expect(bytes.count == WireFormat.preambleSize + ChunkHeader.encodedSize
                        + (flags.contains(.empty) ? 0 : Int(count) * dtype.size))
                let decoded = try bytes.withUnsafeBytes { raw throws(WireError) in try WireFormat.decode(raw) }
                #expect(decoded == frame)
            }
        }
    }

    @Test func headerLayoutIsFixedLittleEndian() {
        let bytes = WireFormat.encode(Self.chunkFrame())
        #expect(Array(bytes[0..<4]) == Array("TRBY".utf8))
        #expect(bytes[4] == 1)        // version
        #expect(bytes[5] == 2)        // kind chunk
        #expect(bytes[12] == 7)       // job
        #expect(Array(bytes[20..<28]) == [2, 0, 0, 0, 1, 0, 0, 0]) // opSeq little-endian
        #expect(bytes[12 + 45] == DType.f32.rawValue)
    }

    @Test func dripFedBytesYieldSameFrames() throws {
        let frames: [Frame] = [Self.chunkFrame()] + Self.controlSamples.map { .control($0) } + [Self.chunkFrame()]
        var stream: [UInt8] = []
        for f in frames { WireFormat.encode(f, into: &stream) }
        var accumulator = FrameAccumulator()
        var out: [Frame] = []
        for byte in stream { out += try accumulator.feed([byte]) }
        #expect(out == frames)
        #expect(accumulator.pendingBytes == 0)
        // Uneven pieces too.
        var acc2 = FrameAccumulator()
        var out2: [Frame] = []
        var i = 0
        var step = 1
        while i < stream.count {
            let j = min(stream.count, i + step)
            out2 += try acc2.feed(stream[i..<j])
            i = j
            step = step * 3 % 97 + 1
        }
        #expect(out2 == frames)
    }

    /// A placed payload lands in the receiver's memory, whatever the read sizes, and the frame
    /// arrives without its array; an unplaced one (placement says nil) arrives as usual.
    @Test func placementWritesPayloadsInPlace() throws {
        let frame = Self.chunkFrame(Self.header(count: 5))
        let control = Frame.control(.shutdown(Shutdown(reason: "x")))
        var stream: [UInt8] = []
        WireFormat.encode(frame, into: &stream)
        WireFormat.encode(control, into: &stream)
        WireFormat.encode(frame, into: &stream)
        guard case .chunk(let h, let payload) = frame else { return }
        for step in [1, 7, 1000] {
            var target = [UInt8](repeating: 0, count: payload.count)
            var parser = FrameParser()
            var out: [Frame] = []
            var placedOnce = false
            try target.withUnsafeMutableBytes { t in
                let address = t.baseAddress!
                var i = 0
                while i < stream.count {
                    let j = min(stream.count, i + step)
                    try stream[i..<j].withUnsafeBytes { raw in
                        try parser.feed(raw, placement: { _ in
                            defer { placedOnce = true }
                            return placedOnce ? nil : address
                        }) { out.append($0) }
                    }
                    i = j
                }
            }
            #expect(target == payload, "step \(step)")
            #expect(out == [.chunk(h, payload: []), control, frame], "step \(step)")
        }
    }

    @Test func partialFrameWaitsForMore() throws {
        let bytes = WireFormat.encode(Self.chunkFrame())
        var acc = FrameAccumulator()
        #expect(try acc.feed(bytes.dropLast()).isEmpty)
        #expect(acc.pendingBytes == bytes.count - 1)
        #expect(try acc.feed(bytes.suffix(1)).count == 1)
    }

    func decodeError(_ bytes: [UInt8], maxBody: Int = WireFormat.defaultMaxBody) -> WireError? {
        wireError(bytes) { raw throws(WireError) in _ = try WireFormat.decode(raw, maxBody: maxBody) }
    }

    func mutated(_ change: (inout [UInt8]) -> Void) -> [UInt8] {
        var b = WireFormat.encode(Self.chunkFrame())
        change(&b)
        return b
    }

    @Test func shortInputs() {
        let bytes = WireFormat.encode(Self.chunkFrame())
        #expect(decodeError([]) == .short(need: 12, have: 0))
        #expect(decodeError(Array(bytes.prefix(11))) == .short(need: 12, have: 11))
        #expect(decodeError(Array(bytes.dropLast())) == .short(need: bytes.count, have: bytes.count - 1))
    }

    @Test func oversizedBodyRejectedFromPreambleAlone() {
        var acc = FrameAccumulator(maxBody: 1024)
        var preamble: [UInt8] = []
        WireFormat.appendPreamble(kind: .chunk, bodyLength: 1 << 30, into: &preamble)
        #expect(throws: WireError.oversized(length: 1 << 30, limit: 1024)) { try acc.feed(preamble) }
    }

    @Test func wrongMagicAndVersion() {
        #expect(decodeError(mutated { $0[0] = 0x47 }) == .badMagic(found: 0x5942_5247))
        // Garbage is rejected from its first byte, before a whole preamble arrives.
        var acc = FrameAccumulator()
        #expect(throws: WireError.self) { try acc.feed(Array("GET ".utf8)) }
        #expect(decodeError(mutated { $0[4] = 2 }) == .unsupportedVersion(found: 2, supported: 1))
        #expect(decodeError(mutated { $0[5] = 9 }) == .unknownKind(9))
        #expect(decodeError(mutated { $0[6] = 1 }) == .reservedBitsSet(1))
    }

    @Test func unknownEnumerations() {
        #expect(decodeError(mutated { $0[12 + 45] = 0 }) == .unknownDType(0))
        #expect(decodeError(mutated { $0[12 + 45] = 200 }) == .unknownDType(200))
        #expect(decodeError(mutated { $0[12 + 46] = 99 }) == .unknownOp(99))
        #expect(decodeError(mutated { $0[12 + 44] = 77 }) == .unknownCollective(77))
        #expect(decodeError(mutated { $0[12 + 47] = 0x80 }) == .unknownFlags(0x80))
        #expect(decodeError(mutated { $0[12 + 46] = ReduceOp.bxor.rawValue }) == .opNotSupported(op: .bxor, dtype: .f32))
    }

    @Test func lengthMismatches() {
        // Payload length field disagrees with the body.
        if case .lengthMismatch? = decodeError(mutated { $0[12 + 52] &+= 1 }) {} else { Issue.record("payload field") }
        // Element count disagrees with payload bytes.
        if case .lengthMismatch? = decodeError(mutated { $0[12 + 40] = 4 }) {} else { Issue.record("count") }
        // Extra bytes beyond the announced body.
        if case .lengthMismatch? = decodeError(mutated { $0.append(0) }) {} else { Issue.record("trailing") }
        // A chunk body shorter than its header.
        var tiny: [UInt8] = []
        WireFormat.appendPreamble(kind: .chunk, bodyLength: 10, into: &tiny)
        tiny += [UInt8](repeating: 0, count: 10)
        if case .lengthMismatch? = decodeError(tiny) {} else { Issue.record("tiny chunk") }
        // Empty flag with payload.
        if case .lengthMismatch? = decodeError(mutated { $0[12 + 47] = ChunkHeader.Flags.empty.rawValue }) {} else {
            Issue.record("empty with payload")
        }
    }

    @Test func impossibleGeometry() {
        if case .badGeometry? = decodeError(mutated { $0[12 + 32] = 10 }) {} else { Issue.record("index ≥ count") }
        if case .badGeometry? = decodeError(mutated { $0[12 + 36] = 0; $0[12 + 32] = 0 }) {} else {
            Issue.record("zero chunks")
        }
        if case .badGeometry? = decodeError(mutated { $0[12 + 16] = 0; $0[12 + 17] = 0 }) {} else {
            Issue.record("past total")
        }
    }

    @Test func malformedControlBodies() {
        for body in ["", "{", "[]", "{\"nope\":{}}", "{\"hello\":{\"role\":\"pilot\"}}", "\u{0}\u{1}"] {
            let bytes = Array(body.utf8)
            var frame: [UInt8] = []
            WireFormat.appendPreamble(kind: .control, bodyLength: bytes.count, into: &frame)
            frame += bytes
            if case .malformedControl? = decodeError(frame) {} else { Issue.record("body \(body) accepted") }
        }
    }

    /// Random bytes never trap the decoder: they decode or throw a WireError.
    @Test func randomGarbageNeverTraps() {
        var rng = SplitMix64(seed: 42)
        let valid = WireFormat.encode(Self.chunkFrame())
        for round in 0..<3000 {
            var bytes = valid
            let flips = 1 + Int(rng.next() % 6)
            for _ in 0..<flips { bytes[Int(rng.next() % UInt64(bytes.count))] = UInt8(truncatingIfNeeded: rng.next()) }
            if round % 3 == 0 { bytes = Array(bytes.prefix(Int(rng.next() % UInt64(bytes.count + 1)))) }
            var acc = FrameAccumulator()
            _ = try? acc.feed(bytes)
            _ = decodeError(bytes)
        }
    }
}

/// What `decode` throws on `bytes`, or nil when it accepts them.
func wireError(_ bytes: [UInt8], _ decode: (UnsafeRawBufferPointer) throws(WireError) -> Void) -> WireError? {
    bytes.withUnsafeBytes { raw in
        do throws(WireError) {
            try decode(raw)
            return nil
        } catch {
            return error
        }
    }
}
