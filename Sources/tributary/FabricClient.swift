import Authentication
import Foundation
import Transport
import TransportTCP
import TributaryCore

/// A tool's authenticated control connection to a running fabric's coordinator (`jobs`, `serve`'s
/// readiness check): the same handshake as every peer, with the client key.
struct FabricClient {
    let coordinator: Endpoint
    let key: AuthKey
    var timeout: Duration = .seconds(10)

    /// The coordinator's job table.
    func jobList() async throws -> JobList {
        try await request(.listJobs) { if case .jobList(let list) = $0 { list } else { nil } }
    }

    /// The fabric's live state (`tributary status`).
    func liveStatus() async throws -> LiveStatus {
        try await request(.statusRequest) { if case .liveStatus(let status) = $0 { status } else { nil } }
    }

    /// Sends `message` on a new authenticated connection and returns the first answer `accept` takes.
    private func request<Answer: Sendable>(_ message: ControlMessage,
                                           _ accept: @escaping @Sendable (ControlMessage) -> Answer?) async throws
        -> Answer {
        let transport = TCPTransport(localName: "tributary client")
        defer { Task { await transport.shutdown() } }
        let (connection, box) = try await Handshake.open(
            coordinator, over: transport, hello: Hello(role: .client, name: "tributary \(getpid())"), key: key,
            timeout: timeout)
        defer { connection.close() }
        connection.send(.control(message))
        return try await withDeadline(timeout, orThrow: ClientError("the coordinator at \(coordinator) did not "
                                                                    + "answer within \(timeout)")) {
            while let frame = try await box.iterator.next() {
                switch frame {
                case .control(.error(let report)): throw report
                case .control(let answer): if let value = accept(answer) { return value }
                default: continue
                }
            }
            throw ClientError("the coordinator at \(coordinator) closed the connection")
        }
    }

    struct ClientError: Error, CustomStringConvertible {
        let description: String
        init(_ description: String) { self.description = description }
    }
}
