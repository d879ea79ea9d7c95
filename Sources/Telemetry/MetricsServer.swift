import NIOCore
import NIOHTTP1
import NIOPosix
import Prometheus

/// Serves one registry's metrics in Prometheus text format at `GET /metrics`, over plain HTTP/1.1
/// (what Prometheus, curl and any HTTP client speak). Everything else gets 404 (or 405 for other
/// methods); request bodies are ignored and never buffered. One event loop: a scrape is rare and small.
public final class MetricsServer: Sendable {
    /// The address it listens on (the real port when asked for port 0).
    public let host: String
    public let port: Int
    private let channel: any Channel
    private let group: MultiThreadedEventLoopGroup

    /// `http://host:port/metrics`.
    public var url: String {
        let shown = host.contains(":") ? "[\(host)]" : host
        return "http://\(shown):\(port)/metrics"
    }

    private init(host: String, port: Int, channel: any Channel, group: MultiThreadedEventLoopGroup) {
        self.host = host
        self.port = port
        self.channel = channel
        self.group = group
    }

    /// Binds `host:port` (port 0 picks a free one) and serves `registry` until `close`.
    public static func start(host: String, port: Int, registry: PrometheusCollectorRegistry) async throws
        -> MetricsServer {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        do {
            let channel = try await ServerBootstrap(group: group)
                .serverChannelOption(.backlog, value: 16)
                .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
                .childChannelInitializer { channel in
                    channel.pipeline.configureHTTPServerPipeline(withErrorHandling: true).flatMap {
                        channel.pipeline.addHandler(MetricsHandler(registry: registry))
                    }
                }
                .childChannelOption(.maxMessagesPerRead, value: 1)
                .bind(host: host, port: port).get()
            let bound = channel.localAddress?.port ?? port
            return MetricsServer(host: host, port: bound, channel: channel, group: group)
        } catch {
            try? await group.shutdownGracefully()
            throw MetricsServerError(host: host, port: port, underlying: "\(error)")
        }
    }

    /// Stops listening and ends the server's thread.
    public func close() async {
        try? await channel.close()
        try? await group.shutdownGracefully()
    }
}

/// The metrics endpoint could not be opened.
public struct MetricsServerError: Error, CustomStringConvertible {
    public let host: String
    public let port: Int
    public let underlying: String
    public var description: String { "cannot serve metrics on \(host):\(port): bind: \(underlying)" }
}

/// Answers each request once its head has arrived (a GET has no body worth waiting for).
private final class MetricsHandler: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let registry: PrometheusCollectorRegistry
    private var keepAlive = false
    private var pending: (status: HTTPResponseStatus, body: [UInt8], contentType: String, head: Bool)?

    init(registry: PrometheusCollectorRegistry) { self.registry = registry }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let request):
            keepAlive = request.isKeepAlive
            let path = request.uri.split(separator: "?", maxSplits: 1).first.map(String.init) ?? request.uri
            switch (request.method, path) {
            case (.GET, "/metrics"), (.HEAD, "/metrics"):
                var body: [UInt8] = []
                body.reserveCapacity(16 << 10)
                registry.emit(into: &body)
                pending = (.ok, body, "text/plain; version=0.0.4; charset=utf-8", request.method == .HEAD)
            case (.GET, _), (.HEAD, _):
                pending = (.notFound, Array("not found: this server has /metrics only\n".utf8), "text/plain", false)
            default:
                pending = (.methodNotAllowed, Array("only GET /metrics\n".utf8), "text/plain", false)
            }
        case .body:
            break
        case .end:
            guard let response = pending else { return }
            pending = nil
            respond(context: context, response)
        }
    }

    private func respond(context: ChannelHandlerContext,
                         _ response: (status: HTTPResponseStatus, body: [UInt8], contentType: String, head: Bool)) {
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: response.contentType)
        headers.add(name: "Content-Length", value: "\(response.body.count)")
        if !keepAlive { headers.add(name: "Connection", value: "close") }
        let head = HTTPResponseHead(version: .http1_1, status: response.status, headers: headers)
        context.write(wrapOutboundOut(.head(head)), promise: nil)
        if !response.head && !response.body.isEmpty {
            var buffer = context.channel.allocator.buffer(capacity: response.body.count)
            buffer.writeBytes(response.body)
            context.write(wrapOutboundOut(.body(.byteBuffer(buffer))), promise: nil)
        }
        let keepAlive = self.keepAlive
        context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in
            if !keepAlive { context.close(promise: nil) }
        }
    }
}
