import Foundation

/// What `tributary serve` (and the coordinator) write to the endpoint file: where the fabric's
/// coordinator listens and where its client key lies. Everything that attaches to a running fabric
/// — workers, `tributary jobs`, the C and Python clients — starts from this file. It holds no
/// secret itself: the key file beside it is readable only by the fabric's user.
public struct FabricEndpoint: Sendable, Codable, Equatable {
    public var coordinator: Endpoint
    public var clientKeyFile: String
    /// The topology the fabric serves (its name) and the serving process.
    public var topology: String
    public var pid: Int32

    public init(coordinator: Endpoint, clientKeyFile: String, topology: String, pid: Int32) {
        self.coordinator = coordinator
        self.clientKeyFile = clientKeyFile
        self.topology = topology
        self.pid = pid
    }

    /// The environment variable naming an endpoint file, for programs started inside a fabric's job.
    public static let environmentVariable = "TRIBUTARY_FABRIC"
    /// The environment variable naming a client key file (instead of the endpoint file's).
    public static let clientKeyVariable = "TRIBUTARY_CLIENT_KEY_FILE"
    /// Set by `tributary fabric exec` inside a node's namespace: the node, and its data address.
    public static let nodeVariable = "TRIBUTARY_NODE"
    public static let dataAddressVariable = "TRIBUTARY_DATA_ADDRESS"

    /// Why an endpoint file cannot be used, naming the file.
    public struct Unreadable: Error, CustomStringConvertible {
        public let description: String
    }

    /// Reads the file `serve --endpoint-file` writes (every client starts here: the CLI and the C library).
    public static func read(_ path: String) throws(Unreadable) -> FabricEndpoint {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw Unreadable(description: "cannot read fabric endpoint file \(path) (is `tributary serve` running?)")
        }
        do {
            return try JSONDecoder().decode(FabricEndpoint.self, from: data)
        } catch {
            throw Unreadable(description: "fabric endpoint file \(path) is not an endpoint file: \(error)")
        }
    }
}
