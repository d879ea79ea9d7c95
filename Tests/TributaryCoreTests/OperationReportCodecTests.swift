import Foundation
import FuzzChecks
import Testing
@testable import TributaryCore

/// The binary per-operation report: every field survives, and bytes that are not a report — cut
/// short anywhere, lengths that claim more than is there, unknown enum bytes, trailing bytes, text
/// that is not UTF-8 — are refused as a malformed control body, never trusted or trapped on.
struct OperationReportCodecTests {
    static var samples: [OperationReport] {
        var retried = OperationReport(
            job: .max, rank: 7, opSeq: .max, collective: .reduceScatter, dtype: .f16, op: .min, count: 1 << 40,
            root: 3, input: .generated(InputGenerator(seed: .max, specials: true)), chunkDigests: [0, 1, .max],
            seconds: -0.0, path: "in-network: tree spine0 — ünïcödé", transport: "rdma (write-imm)",
            algorithm: .inNetwork, bytesSent: .max, bytesReceived: 0)
        retried.retried = "switch leaf1 lost: heartbeat silent for 1 s"
        retried.measured = false
        retried.reductionProtocol = .streaming
        let ring = OperationReport(
            job: 0, rank: 0, opSeq: 0, collective: .allreduce, dtype: .u8, op: .bxor, count: 0, root: 0,
            input: .shipped(Data([0, 1, 2, 255])), chunkDigests: [], seconds: 1e-6, path: "", transport: "",
            algorithm: .ring)
        var unchecked = OperationReport(
            job: 9, rank: 5, opSeq: 12, collective: .barrier, dtype: .f32, op: .sum, count: 0, root: 0,
            input: .none, chunkDigests: [42], seconds: 1.5e-4, path: "host fallback: no tree", transport: "tcp")
        var empty = unchecked
        empty.input = .shipped(Data())
        return [retried, ring, unchecked, empty]
    }

    @Test func everyFieldRoundTrips() throws {
        for report in Self.samples {
            let body = OperationReportCodec.encode(report)
            #expect(body.first == OperationReportCodec.tag)
            let decoded = try body.withUnsafeBytes { raw throws(WireError) in try OperationReportCodec.decode(raw) }
            #expect(decoded == report)
            #expect(decoded.seconds.bitPattern == report.seconds.bitPattern)
            // Through a whole frame, as the transports carry it.
            let frame = WireFormat.encode(.control(.opReport(report)))
            let parsed = try frame.withUnsafeBytes { raw throws(WireError) in try WireFormat.decode(raw) }
            #expect(parsed == .control(.opReport(report)))
        }
    }

    /// A shipped input costs its bytes, not four characters of JSON per byte.
    @Test func shippedInputTravelsAsItsBytes() {
        let input = Data((0..<100_000).map { UInt8(truncatingIfNeeded: $0 &* 31) })
        let report = OperationReport(job: 1, rank: 0, opSeq: 1, collective: .allreduce, dtype: .u8, op: .sum,
                                     count: input.count, root: 0, input: .shipped(input), chunkDigests: [1],
                                     seconds: 0, path: "in-network", transport: "tcp")
        #expect(OperationReportCodec.encode(report).count < input.count + 200)
    }

    @Test func everyTruncationIsRefusedByName() {
        for report in Self.samples {
            let body = OperationReportCodec.encode(report)
            for cut in 1..<body.count {
                let error = Self.decodeError(Array(body.prefix(cut)))
                guard case .malformedControl(let why)? = error else {
                    Issue.record("cut at \(cut) of \(body.count): \(String(describing: error))")
                    continue
                }
                #expect(why.contains("needs"), "\(why)")
            }
        }
    }

    @Test func lengthsThatClaimMoreThanIsThereAllocateNothing() {
        let report = OperationReport(job: 1, rank: 0, opSeq: 1, collective: .allreduce, dtype: .f32, op: .sum,
                                     count: 2, root: 0, input: .none, chunkDigests: [], seconds: 0, path: "p",
                                     transport: "t")
        var body = OperationReportCodec.encode(report)
        // The digest count sits right after the input kind byte (0: none).
        let digestCountAt = 1 + 4 + 4 + 8 + 5 + 8 * 5 + 1
        #expect(body[digestCountAt..<digestCountAt + 4].allSatisfy { $0 == 0 })
        body.replaceSubrange(digestCountAt..<digestCountAt + 4, with: [0xFF, 0xFF, 0xFF, 0xFF])
        guard case .malformedControl(let why)? = Self.decodeError(body) else {
            Issue.record("a digest count of 2^32-1 was accepted"); return
        }
        #expect(why.contains("digests needs 34359738360 bytes"), "\(why)")
        // A shipped input claiming 4 GiB.
        var shipped = OperationReportCodec.encode(OperationReport(
            job: 1, rank: 0, opSeq: 1, collective: .allreduce, dtype: .u8, op: .sum, count: 1, root: 0,
            input: .shipped(Data([7])), chunkDigests: [], seconds: 0, path: "", transport: ""))
        let lengthAt = digestCountAt
        shipped.replaceSubrange(lengthAt..<lengthAt + 4, with: [0xFF, 0xFF, 0xFF, 0xFF])
        guard case .malformedControl(let shippedWhy)? = Self.decodeError(shipped) else {
            Issue.record("a 4 GiB shipped input was accepted"); return
        }
        #expect(shippedWhy.contains("shipped input needs"), "\(shippedWhy)")
    }

    @Test func unknownBytesAndTrailingBytesAreRefused() {
        let good = OperationReportCodec.encode(Self.samples[2])
        func mutated(_ at: Int, _ value: UInt8) -> [UInt8] { var b = good; b[at] = value; return b }
        for (at, value, words) in [(17, UInt8(0), "unknown collective 0"), (18, 99, "unknown dtype 99"),
                                   (19, 99, "unknown op 99"), (20, 2, "algorithm"), (21, 16, "unknown flags"),
                                   (21, 12, "protocol"), (62, 3, "input kind"),
                                   (45, 0xFF, "is not a duration")] {
            guard case .malformedControl(let why)? = Self.decodeError(mutated(at, value)) else {
                Issue.record("byte \(at) = \(value) accepted"); continue
            }
            #expect(why.contains(words), "\(why)")
        }
        // NaN and infinity are not durations (and NaN would not even equal itself after a round trip).
        for bad in [Double.nan, .infinity, -.infinity] {
            var b = good
            withUnsafeBytes(of: bad.bitPattern.littleEndian) { b.replaceSubrange(38..<46, with: $0) }
            guard case .malformedControl(let why)? = Self.decodeError(b) else {
                Issue.record("seconds \(bad) accepted"); continue
            }
            #expect(why.contains("is not a duration"), "\(why)")
        }
        guard case .malformedControl(let trailing)? = Self.decodeError(good + [0]) else {
            Issue.record("a trailing byte was accepted"); return
        }
        #expect(trailing.contains("1 bytes after the last field"))
        // The path's text, replaced by bytes that are not UTF-8.
        let report = OperationReport(job: 1, rank: 0, opSeq: 1, collective: .allreduce, dtype: .f32, op: .sum,
                                     count: 2, root: 0, input: .none, chunkDigests: [], seconds: 0, path: "ab",
                                     transport: "t")
        var body = OperationReportCodec.encode(report)
        let pathAt = body.count - 4 - 1 - 2
        body[pathAt] = 0xC3
        body[pathAt + 1] = 0x28
        guard case .malformedControl(let text)? = Self.decodeError(body) else {
            Issue.record("a path that is not UTF-8 was accepted"); return
        }
        #expect(text.contains("path is not UTF-8"))
    }

    /// Random damage to a valid body is refused as a malformed control body or decodes to a report
    /// that survives its own round trip (the fuzz target's invariants); it never traps.
    @Test func randomDamageNeverTraps() {
        var rng = SplitMix64(seed: 7)
        let valid = Self.samples.map(OperationReportCodec.encode)
        for round in 0..<5000 {
            var bytes = valid[round % valid.count]
            for _ in 0..<(1 + Int(rng.next() % 4)) {
                bytes[1 + Int(rng.next() % UInt64(bytes.count - 1))] = UInt8(truncatingIfNeeded: rng.next())
            }
            let problems = ControlMessageCheck.run(bytes)
            #expect(problems.isEmpty, "\(problems)")
        }
    }

    static func decodeError(_ body: [UInt8]) -> WireError? {
        wireError(body) { raw throws(WireError) in _ = try WireFormat.decodeControl(raw) }
    }
}
