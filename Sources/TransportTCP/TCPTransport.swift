import Foundation
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import TributaryCore
import Transport

/// Frames over TCP with SwiftNIO: the fallback data plane and the control plane everywhere.
public final class TCPTransport: FrameTransport, @unchecked Sendable {
    public let name = "tcp"
    /// Names this process in error frames it sends to a peer it drops.
    public let localName: String
    public let maxBody: Int
    private let group: MultiThreadedEventLoopGroup
    /// The first event loop, as a task executor (with one loop, the one every connection uses).
    let loopExecutor: EventLoopTaskExecutor

    /// - Parameters:
    ///   - threads: event loop threads; one is right on small machines (the roles are not CPU bound
    ///     in NIO, and a second loop competes with the reduction for the two cores).
    public init(localName: String, threads: Int = 1, maxBody: Int = WireFormat.defaultMaxBody) {
        self.localName = localName
        self.maxBody = maxBody
        self.group = MultiThreadedEventLoopGroup(numberOfThreads: threads)
        self.loopExecutor = EventLoopTaskExecutor(group.next())
    }

    public var taskExecutor: (any TaskExecutor)? { loopExecutor }

    deinit {
        group.shutdownGracefully { _ in }
    }

    /// Stops the event loops; call when the process is done with the transport.
    public func shutdown() async {
        try? await group.shutdownGracefully()
    }

    static let recvAllocator = AdaptiveRecvByteBufferAllocator(minimum: 64 << 10, initial: 256 << 10,
                                                              maximum: 4 << 20)

    public func listen(on endpoint: Endpoint) async throws -> any FrameListener {
        let (connections, continuation) = AsyncStream<any FrameConnection>.makeStream()
        let localName = self.localName
        let maxBody = self.maxBody
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(ChannelOptions.backlog, value: 256)
            .serverChannelOption(ChannelOptions.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(ChannelOptions.tcpOption(.tcp_nodelay), value: 1)
            .childChannelOption(ChannelOptions.recvAllocator, value: Self.recvAllocator)
            .childChannelOption(ChannelOptions.maxMessagesPerRead, value: 8)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let connection = try TCPConnection.install(on: channel, localName: localName, maxBody: maxBody)
                    continuation.yield(connection)
                }
            }
        do {
            let channel = try await bootstrap.bind(host: endpoint.host, port: endpoint.port).get()
            let port = channel.localAddress?.port ?? endpoint.port
            return TCPListener(channel: channel, endpoint: Endpoint(host: endpoint.host, port: port),
                               connections: connections, continuation: continuation)
        } catch {
            continuation.finish()
            throw TransportError.listenFailed(endpoint: endpoint, reason: "\(error)")
        }
    }

    public func connect(to endpoint: Endpoint) async throws -> any FrameConnection {
        let localName = self.localName
        let maxBody = self.maxBody
        // The frame pipeline goes in before the connection is up: the acceptor speaks first (its
        // challenge), and bytes that arrived before a handler existed would be dropped.
        let installed = NIOLockedValueBox<TCPConnection?>(nil)
        let bootstrap = ClientBootstrap(group: group)
            .channelOption(ChannelOptions.tcpOption(.tcp_nodelay), value: 1)
            .channelOption(ChannelOptions.recvAllocator, value: Self.recvAllocator)
            .channelOption(ChannelOptions.maxMessagesPerRead, value: 8)
            .connectTimeout(.seconds(10))
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let connection = try TCPConnection.install(on: channel, localName: localName, maxBody: maxBody,
                                                               peer: "\(endpoint)")
                    installed.withLockedValue { $0 = connection }
                }
            }
        do {
            _ = try await bootstrap.connect(host: endpoint.host, port: endpoint.port).get()
            guard let connection = installed.withLockedValue({ $0 }) else {
                throw TransportError.connectFailed(endpoint: endpoint, reason: "no frame pipeline was installed")
            }
            return connection
        } catch {
            throw TransportError.connectFailed(endpoint: endpoint, reason: "\(error)")
        }
    }
}

final class TCPListener: FrameListener, @unchecked Sendable {
    let endpoint: Endpoint
    let connections: AsyncStream<any FrameConnection>
    private let channel: Channel
    private let continuation: AsyncStream<any FrameConnection>.Continuation

    init(channel: Channel, endpoint: Endpoint, connections: AsyncStream<any FrameConnection>,
         continuation: AsyncStream<any FrameConnection>.Continuation) {
        self.channel = channel
        self.endpoint = endpoint
        self.connections = connections
        self.continuation = continuation
    }

    func close() async {
        try? await channel.close()
        continuation.finish()
    }
}

/// One TCP connection carrying frames.
final class TCPConnection: FrameConnection, @unchecked Sendable {
    let peer: String
    let inbound: AsyncThrowingStream<Frame, Error>
    private let channel: Channel

    private let placement: PlacementBox
    private let reader: NIOLoopBound<FrameReadHandler>

    private init(channel: Channel, peer: String, inbound: AsyncThrowingStream<Frame, Error>, placement: PlacementBox,
                 reader: NIOLoopBound<FrameReadHandler>) {
        self.placement = placement
        self.reader = reader
        self.channel = channel
        self.peer = peer
        self.inbound = inbound
    }

    /// Adds the frame pipeline to `channel`; must run on its event loop.
    static func install(on channel: Channel, localName: String, maxBody: Int, peer name: String? = nil) throws
        -> TCPConnection {
        let peer = name ?? channel.remoteAddress.map { "\($0.ipAddress ?? "?"):\($0.port ?? 0)" } ?? "unknown peer"
        let (stream, continuation) = AsyncThrowingStream<Frame, Error>.makeStream()
        let ops = channel.pipeline.syncOperations
        try ops.addHandler(FrameWriteHandler())
        let reader = FrameReadHandler(continuation: continuation, peer: peer, localName: localName, maxBody: maxBody)
        try ops.addHandler(reader)
        return TCPConnection(channel: channel, peer: peer, inbound: stream, placement: reader.placement,
                             reader: NIOLoopBound(reader, eventLoop: channel.eventLoop))
    }

    func authenticated() {
        // Runs before any write queued after this call (the handshake's acknowledgement), so the
        // peer's next frame meets the full limits.
        let reader = self.reader
        channel.eventLoop.execute { reader.value.authenticated() }
    }

    func send(_ frame: Frame) {
        channel.writeAndFlush(OutboundFrame.frame(frame), promise: nil)
    }

    func deliverInline(_ handler: @escaping @Sendable (InlineDelivery) -> Void) -> Bool {
        let reader = self.reader
        channel.eventLoop.execute { reader.value.deliverInline(handler) }
        return true
    }

    func setPlacement(_ placement: (@Sendable (ChunkHeader) -> UnsafeMutableRawPointer?)?) {
        self.placement.current = placement
    }

    func send(_ frame: SharedFrame) {
        let allocator = channel.allocator
        // ByteBuffer storage is shared copy-on-write: every child's write reads the same bytes.
        let buffer = frame.encoding { FrameWriteHandler.encode(frame.frame, allocator: allocator) }
        channel.writeAndFlush(OutboundFrame.encoded(buffer), promise: nil)
    }

    func sendChunk(_ header: ChunkHeader, payload: UnsafeRawBufferPointer) {
        let buffer = FrameWriteHandler.encodeChunk(header, payload: payload, allocator: channel.allocator)
        channel.writeAndFlush(OutboundFrame.encoded(buffer), promise: nil)
    }

    func sendAndWait(_ frame: Frame) async throws {
        do {
            try await channel.writeAndFlush(OutboundFrame.frame(frame)).get()
        } catch {
            throw TransportError.connectionLost(peer: peer, reason: "\(error)")
        }
    }

    func close() {
        channel.close(promise: nil)
    }
}
