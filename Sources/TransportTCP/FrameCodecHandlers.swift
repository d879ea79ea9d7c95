import Foundation
import NIOCore
import Transport
import TributaryCore

/// What the connection writes: a frame to encode, or bytes already encoded by the sender's thread
/// (the zero-extra-copy path of `sendChunk`).
enum OutboundFrame {
    case frame(Frame)
    case encoded(ByteBuffer)
}

/// Encodes frames with the core codec: preamble and header, then the payload, in one buffer.
final class FrameWriteHandler: ChannelOutboundHandler {
    typealias OutboundIn = OutboundFrame
    typealias OutboundOut = ByteBuffer

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        switch unwrapOutboundIn(data) {
        case .encoded(let buffer):
            context.write(wrapOutboundOut(buffer), promise: promise)
        case .frame(let frame):
            context.write(wrapOutboundOut(Self.encode(frame, allocator: context.channel.allocator)), promise: promise)
        }
    }

    static func encode(_ frame: Frame, allocator: ByteBufferAllocator) -> ByteBuffer {
        switch frame {
        case .control(let message):
            let body = WireFormat.encodeControl(message)
            var prefix: [UInt8] = []
            WireFormat.appendPreamble(kind: .control, bodyLength: body.count, into: &prefix)
            var out = allocator.buffer(capacity: prefix.count + body.count)
            out.writeBytes(prefix)
            out.writeBytes(body)
            return out
        case .chunk(let header, let payload):
            return payload.withUnsafeBytes { encodeChunk(header, payload: $0, allocator: allocator) }
        }
    }

    /// One copy of the payload, straight from the caller's memory into the socket buffer.
    static func encodeChunk(_ header: ChunkHeader, payload: UnsafeRawBufferPointer, allocator: ByteBufferAllocator)
        -> ByteBuffer {
        let prefixSize = WireFormat.preambleSize + ChunkHeader.encodedSize
        var out = allocator.buffer(capacity: prefixSize + payload.count)
        out.writeWithUnsafeMutableBytes(minimumWritableBytes: prefixSize) { p in
            WireFormat.writeChunkPrefix(header, to: UnsafeMutableRawBufferPointer(rebasing: p[0..<prefixSize]))
            return prefixSize
        }
        out.writeBytes(payload)
        return out
    }
}

/// Parses the byte stream with `FrameParser` (each payload byte copied once, into its frame) and
/// hands frames to the connection's `inbound` stream. Bytes that do not decode end this
/// connection only, after telling the peer why.
final class FrameReadHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = OutboundFrame

    private let continuation: AsyncThrowingStream<Frame, Error>.Continuation
    private let peer: String
    private let localName: String
    private var parser: FrameParser
    private var failed = false
    private var inactive = false
    /// Set by `deliverInline` on the event loop: frames and the end go here, not to the stream.
    private var inline: (@Sendable (InlineDelivery) -> Void)?
    /// Set from the receiver's thread, read on the event loop.
    let placement = PlacementBox()

    private let maxBody: Int

    /// Starts at the small limits of an unauthenticated peer (a hello is a few hundred bytes);
    /// `authenticated` lifts them to `maxBody` once the peer has proved its key.
    init(continuation: AsyncThrowingStream<Frame, Error>.Continuation, peer: String, localName: String, maxBody: Int) {
        self.continuation = continuation
        self.peer = peer
        self.localName = localName
        self.maxBody = maxBody
        let small = min(maxBody, WireFormat.preAuthenticationMaxBody)
        self.parser = FrameParser(maxBody: small, maxControlBody: small)
    }

    /// Runs on the event loop (see `TCPConnection.authenticated`).
    func authenticated() {
        parser.setLimits(maxBody: maxBody, maxControlBody: min(maxBody, WireFormat.defaultMaxControlBody))
    }

    /// Runs on the event loop (see `TCPConnection.deliverInline`): from now on frames go to
    /// `handler`; the stream ends after the ones already in it.
    func deliverInline(_ handler: @escaping @Sendable (InlineDelivery) -> Void) {
        inline = handler
        if !failed { continuation.finish() }
        if inactive { handler(.ended(nil)) }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !failed else { return }
        let buffer = unwrapInboundIn(data)
        let continuation = self.continuation
        let place = placement.current
        do {
            if let inline {
                try buffer.withUnsafeReadableBytes { raw in
                    try parser.feed(raw, placement: place) { inline(.frame($0)) }
                }
            } else {
                try buffer.withUnsafeReadableBytes { raw in
                    try parser.feed(raw, placement: place) { continuation.yield($0) }
                }
            }
        } catch let error as WireError {
            reject(context: context, error)
        } catch {
            reject(context: context, .malformedControl("\(error)"))
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        inactive = true
        if !failed {
            if parser.isAtFrameBoundary {
                end(nil)
            } else {
                // The peer closed mid-frame: say so rather than dropping the bytes silently.
                end(TransportError.malformedFrame(
                    peer: peer, .short(need: parser.partialFrameSize, have: parser.pendingBytes)))
            }
        }
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        guard !failed else { return }
        failed = true
        end(TransportError.connectionLost(peer: peer, reason: "\(error)"))
        context.close(promise: nil)
    }

    /// The connection is over, cleanly (nil) or not: whoever receives the frames hears it once.
    private func end(_ error: Error?) {
        if let inline {
            inline(.ended(error))
        } else if let error {
            continuation.finish(throwing: error)
        } else {
            continuation.finish()
        }
    }

    private func reject(context: ChannelHandlerContext, _ wire: WireError) {
        failed = true
        let kind: ErrorReport.Kind
        if case .unsupportedVersion = wire { kind = .versionMismatch } else { kind = .malformedFrame }
        let report = ErrorReport(kind: kind, reporter: localName, message: "rejected frame from \(peer): \(wire)")
        // Finish first: the write may complete (and the close run) synchronously.
        end(TransportError.malformedFrame(peer: peer, wire))
        let bound = NIOLoopBound(context, eventLoop: context.eventLoop)
        context.writeAndFlush(wrapOutboundOut(.frame(.control(.error(report))))).whenComplete { _ in
            bound.value.close(promise: nil)
        }
    }
}
