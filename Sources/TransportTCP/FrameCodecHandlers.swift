import NIOCore
import Transport
import TributaryCore

/// Turns the byte stream into validated frames with the core codec. Errors are `WireError`s;
/// the pipeline's `FrameStreamHandler` reports them to the peer and closes only this connection.
struct FrameDecoder: ByteToMessageDecoder {
    typealias InboundOut = Frame
    let maxBody: Int

    mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        let maxBody = self.maxBody
        let decoded: (Frame, Int)? = try buffer.withUnsafeReadableBytes { raw -> (Frame, Int)? in
            guard let pre = try WireFormat.parsePreamble(raw, maxBody: maxBody) else { return nil }
            let total = WireFormat.preambleSize + pre.bodyLength
            guard raw.count >= total else { return nil }
            let body = UnsafeRawBufferPointer(rebasing: raw[WireFormat.preambleSize..<total])
            return (try WireFormat.decodeBody(kind: pre.kind, body: body), total)
        }
        guard let (frame, total) = decoded else { return .needMoreData }
        buffer.moveReaderIndex(forwardBy: total)
        context.fireChannelRead(wrapInboundOut(frame))
        return .continue
    }

    mutating func decodeLast(context: ChannelHandlerContext, buffer: inout ByteBuffer, seenEOF: Bool) throws
        -> DecodingState {
        while try decode(context: context, buffer: &buffer) == .continue {}
        if buffer.readableBytes > 0 {
            // The peer closed mid-frame: say so rather than dropping the bytes silently.
            let have = buffer.readableBytes
            let need: Int = buffer.withUnsafeReadableBytes { raw in
                (try? WireFormat.parsePreamble(raw, maxBody: maxBody)).flatMap { $0 }.map {
                    WireFormat.preambleSize + $0.bodyLength
                } ?? WireFormat.preambleSize
            }
            buffer.moveReaderIndex(forwardBy: have)
            throw WireError.short(need: need, have: have)
        }
        return .needMoreData
    }
}

/// Writes frames with the core codec: preamble and header first, then the payload, with no
/// intermediate array.
struct FrameEncoder: MessageToByteEncoder {
    typealias OutboundIn = Frame

    func encode(data: Frame, out: inout ByteBuffer) throws {
        switch data {
        case .control(let message):
            let body = WireFormat.encodeControl(message)
            var prefix: [UInt8] = []
            WireFormat.appendPreamble(kind: .control, bodyLength: body.count, into: &prefix)
            out.reserveCapacity(minimumWritableBytes: prefix.count + body.count)
            out.writeBytes(prefix)
            out.writeBytes(body)
        case .chunk(let header, let payload):
            let prefixSize = WireFormat.preambleSize + ChunkHeader.encodedSize
            out.reserveCapacity(minimumWritableBytes: prefixSize + payload.count)
            out.writeWithUnsafeMutableBytes(minimumWritableBytes: prefixSize) { p in
                WireFormat.writeChunkPrefix(header, to: UnsafeMutableRawBufferPointer(rebasing: p[0..<prefixSize]))
                return prefixSize
            }
            out.writeBytes(payload)
        }
    }
}

/// Hands decoded frames to the connection's `inbound` stream and turns channel events into its end.
final class FrameStreamHandler: ChannelInboundHandler {
    typealias InboundIn = Frame
    typealias OutboundOut = Frame

    private let continuation: AsyncThrowingStream<Frame, Error>.Continuation
    private let peer: String
    private let localName: String

    init(continuation: AsyncThrowingStream<Frame, Error>.Continuation, peer: String, localName: String) {
        self.continuation = continuation
        self.peer = peer
        self.localName = localName
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        continuation.yield(unwrapInboundIn(data))
    }

    func channelInactive(context: ChannelHandlerContext) {
        continuation.finish()
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        let wire: WireError?
        if let e = error as? WireError {
            wire = e
        } else if let e = error as? ByteToMessageDecoderError, case .leftoverDataWhenDone = e {
            wire = .short(need: WireFormat.preambleSize, have: 0)
        } else {
            wire = nil
        }
        if let wire {
            // Tell the peer why it is being dropped, then drop only this connection.
            let report = ErrorReport(kind: wire.isVersionMismatch ? .versionMismatch : .malformedFrame,
                                     reporter: localName, message: "rejected frame from \(peer): \(wire)")
            // Finish first: the write may complete (and the close run) synchronously.
            continuation.finish(throwing: TransportError.malformedFrame(peer: peer, wire))
            let bound = NIOLoopBound(context, eventLoop: context.eventLoop)
            context.writeAndFlush(wrapOutboundOut(.control(.error(report)))).whenComplete { _ in
                bound.value.close(promise: nil)
            }
        } else {
            continuation.finish(throwing: TransportError.connectionLost(peer: peer, reason: "\(error)"))
            context.close(promise: nil)
        }
    }
}

extension WireError {
    var isVersionMismatch: Bool {
        if case .unsupportedVersion = self { return true }
        return false
    }
}
