import Foundation
import Testing
@testable import TributaryC
import TributaryCAPI
import TributaryCore

/// What `tributary_init_config` makes of the C config and the environment, and the entry points'
/// answers to a caller's mistakes — each failure names what is missing.
struct CAPITests {
    static func config() -> tributary_config {
        var c = tributary_config()
        tributaryConfigInit(&c)
        return c
    }

    /// A private directory holding an endpoint file and a client key, as `tributary serve` writes them.
    static func fabricFiles() throws -> (directory: String, endpoint: String) {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("capi-\(UUID())").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let key = "\(directory)/client.key"
        try (String(repeating: "ab", count: 32) + "\n").write(toFile: key, atomically: true, encoding: .utf8)
        chmod(key, 0o600)
        let endpoint = "\(directory)/fabric.json"
        let file = FabricEndpoint(coordinator: Endpoint(host: "127.0.0.1", port: 4000), clientKeyFile: key,
                                  topology: "default", pid: 1)
        try JSONEncoder().encode(file).write(to: URL(fileURLWithPath: endpoint))
        return (directory, endpoint)
    }

    @Test func environmentFillsWhatTheConfigLeavesOut() throws {
        let (directory, endpoint) = try Self.fabricFiles()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let settings = try JoinSettings.resolve(Self.config(), environment: [
            "TRIBUTARY_FABRIC": endpoint, "TRIBUTARY_JOB_SECRET": "s", "SLURM_PROCID": "2", "SLURM_NTASKS": "4",
            "SLURM_JOB_ID": "77", "TRIBUTARY_VALIDATE": "1", "TRIBUTARY_TIMEOUT": "9", "TRIBUTARY_NODE": "h5",
        ])
        #expect(settings.configuration.rank == 2 && settings.configuration.worldSize == 4)
        #expect(settings.configuration.jobName == "slurm-77.0")
        #expect(settings.configuration.coordinator == Endpoint(host: "127.0.0.1", port: 4000))
        #expect(settings.configuration.host == "h5")
        #expect(settings.configuration.operationTimeout == .seconds(9))
        #expect(settings.validate)
    }

    @Test func explicitFieldsWin() throws {
        let (directory, endpoint) = try Self.fabricFiles()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        var c = Self.config()
        let strings: [UnsafeMutablePointer<CChar>] = [endpoint, "mine", "secret", "127.0.0.1:5000"].map { (text: String) in strdup(text)! }
        defer { strings.forEach { free($0) } }
        c.endpoint_file = UnsafePointer(strings[0])
        c.job = UnsafePointer(strings[1])
        c.job_secret = UnsafePointer(strings[2])
        c.coordinator = UnsafePointer(strings[3])
        c.rank = 0
        c.size = 2
        c.host_number = 6
        c.validate = 0
        let settings = try JoinSettings.resolve(c, environment: ["RANK": "1", "WORLD_SIZE": "8", "TRIBUTARY_VALIDATE": "1",
                                                                 "TRIBUTARY_JOB": "theirs"])
        #expect(settings.configuration.rank == 0 && settings.configuration.worldSize == 2)
        #expect(settings.configuration.jobName == "mine" && settings.configuration.jobSecret == "secret")
        #expect(settings.configuration.coordinator == Endpoint(host: "127.0.0.1", port: 5000))
        #expect(settings.configuration.hostNumber == 6)
        #expect(!settings.validate)
    }

    static let missing: [([String: String], String)] = [
        ([:], "give a rank and a size"),
        (["RANK": "0", "WORLD_SIZE": "2"], "no fabric named"),
        (["RANK": "0", "WORLD_SIZE": "2", "TRIBUTARY_FABRIC": "/nonexistent/fabric.json"], "cannot read fabric endpoint file"),
    ]

    @Test(arguments: missing)
    func missingSettingsAreNamed(environment: [String: String], says: String) {
        do {
            _ = try JoinSettings.resolve(Self.config(), environment: environment)
            Issue.record("resolved without \(says)")
        } catch {
            #expect("\(error)".contains(says), "\(error)")
        }
    }

    @Test func noSecretIsNamed() throws {
        let (directory, endpoint) = try Self.fabricFiles()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        do {
            _ = try JoinSettings.resolve(Self.config(), environment: ["RANK": "0", "WORLD_SIZE": "2",
                                                                      "TRIBUTARY_FABRIC": endpoint, "TRIBUTARY_JOB": "j"])
            Issue.record("resolved without a job secret")
        } catch let error as CAPIError {
            #expect(error.code == TRIBUTARY_ERROR_NO_FABRIC && error.description.contains("TRIBUTARY_JOB_SECRET"))
        }
    }

    @Test func entryPointsRefuseACallersMistakes() {
        let value = UnsafeMutableRawPointer.allocate(byteCount: 4, alignment: 4)
        defer { value.deallocate() }
        #expect(tributaryAllreduce(nil, value, value, 1, TRIBUTARY_FLOAT32, TRIBUTARY_SUM, nil)
                == TRIBUTARY_ERROR_INVALID_ARGUMENT)
        #expect(String(cString: tributaryLastError()!) == "null communicator")
        #expect(tributaryInitConfig(nil, nil) == TRIBUTARY_ERROR_INVALID_ARGUMENT)
        #expect(tributaryFinalize(nil) == TRIBUTARY_ERROR_INVALID_ARGUMENT)
        #expect(tributaryRank(nil) == -1 && tributarySize(nil) == -1)
        #expect(String(cString: tributaryErrorString(TRIBUTARY_ERROR_CLOSED)!) == "the communicator is finalized")
        #expect(String(cString: tributaryErrorString(tributary_result_t(rawValue: 99))!) == "unknown tributary result code")
    }
}
