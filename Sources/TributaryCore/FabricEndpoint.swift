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
}
