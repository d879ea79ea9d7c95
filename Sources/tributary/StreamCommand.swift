import ArgumentParser
import Bench
import Foundation
import Transport
import TributaryCore

/// `tributary stream`: one connection, chunk frames one way — Tributary's data path measured like
/// perftest's `ib_write_bw` (a server that receives, a client that sends and reports), over any
/// transport, so the figure sits beside perftest on the same RDMA link or the raw socket limit.
struct StreamCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "stream",
        abstract: "Measure one worker-to-aggregator chunk stream, one way, like ib_write_bw (server: --listen; "
            + "client: --connect).",
        discussion: """
            Server: `tributary stream --transport rdma --listen 10.99.0.1:18600 --streams 3`
            Client: `tributary stream --transport rdma --connect 10.99.0.1:18600 -s 256K -n 400 --repeats 3`
            The client prints one perftest-style line per repeat and the median. Every chunk goes through the \
            same framing, credits and placement as an allreduce's.
            """)

    @Option(help: "Serve streams on this address (the receiving side).") var listen: Endpoint?
    @Option(help: "Write the bound port here once listening (with --listen).") var portFile: String?
    @Option(help: "Streams to serve before exiting (with --listen).") var streams: Int = 1
    @Option(help: "Send to this server (the sending side).") var connect: Endpoint?
    @Option(help: "This side's data address, for --transport auto on the sending side.") var localAddress: String?
    @Option(name: .short, help: "Message (chunk) size.") var s: ByteSize = ByteSize(256 << 10)
    @Option(name: .short, help: "Messages per stream.") var n: Int = 400
    @Option(help: "Chunks in flight, unacknowledged (perftest's --tx-depth; the transport's credits bound it too).")
    var window: Int = 128
    @Option(help: "Streams to run (the median is reported).") var repeats: Int = 1
    @Flag(inversion: .prefixedNo, help: "Register the payload buffer with the transport (zero-copy over RDMA).")
    var registerBuffers = true
    @Option(help: "Seconds before a stream is declared hung.") var timeout: Int = 300
    @OptionGroup var common: CommonOptions

    func validate() throws {
        guard (listen == nil) != (connect == nil) else { throw ValidationError("give exactly one of --listen and --connect") }
        guard s.bytes > 0, s.bytes % 4 == 0 else { throw ValidationError("-s must be a positive multiple of 4 bytes") }
        guard n > 0, repeats > 0, streams > 0, window >= 2 else {
            throw ValidationError("-n, --repeats and --streams must be positive, --window at least 2")
        }
    }

    func run() async throws {
        ParentWatch.startIfRequested()
        lineBufferStandardOutput()
        let address = listen?.host ?? localAddress
        let (transport, why) = try common.dataTransport(localName: "stream", dataAddress: address)
        print("# tributary stream: transport \(why)")
        let limit = Duration.seconds(timeout)
        if let listen {
            let listener = try await transport.listen(on: listen)
            print("# listening on \(listener.endpoint)")
            if let portFile {
                try "\(listener.endpoint.port)\n".write(toFile: portFile, atomically: true, encoding: .utf8)
            }
            var served = 0
            for await connection in listener.connections {
                let (messages, bytes) = try await withDeadline(
                    limit, orThrow: ValidationError("stream from \(connection.peer): no end within \(limit)")) {
                    try await FrameStream.receive(on: connection)
                }
                connection.close()
                served += 1
                print("# stream \(served) from \(connection.peer): \(messages) chunks, \(bytes) bytes")
                if served == streams { break }
            }
            await listener.close()
            return
        }
        guard let connect else { return }
        print(" #bytes     #iterations    BW average[MB/sec]")
        var rates: [Double] = []
        for _ in 0..<repeats {
            let connection = try await transport.connect(to: connect)
            let result = try await withDeadline(
                limit, orThrow: ValidationError("stream to \(connect): no end within \(limit)")) {
                try await FrameStream.send(on: connection, messageBytes: s.bytes, messages: n, window: window,
                                           register: registerBuffers)
            }
            connection.close()
            rates.append(result.bytesPerSecond / 1e6)
            print(String(format: " %-10d %-14d %.2f", s.bytes, n, result.bytesPerSecond / 1e6))
        }
        let median = rates.sorted()[rates.count / 2]
        print(String(format: "# median of %d: %.2f MB/s (%@, %@ chunks, window %d, %@)", repeats, median,
                     transport.name, TopologyUnits.formatSize(s.bytes), window,
                     registerBuffers ? "registered buffer" : "copied"))
    }
}
