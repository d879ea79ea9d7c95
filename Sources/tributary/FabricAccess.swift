import ArgumentParser
import Authentication
import Foundation
import TributaryCore

/// How a client (worker, `jobs`) finds a running fabric and proves it may use it: the endpoint file
/// `serve` writes (`--fabric`, or `$TRIBUTARY_FABRIC`), or an address and a client key file.
struct ClientOptions: ParsableArguments {
    @Option(name: [.customLong("fabric-endpoint"), .customLong("endpoint-file")],
            help: "Endpoint file of a running fabric, as `tributary serve --endpoint-file` writes it (default: $TRIBUTARY_FABRIC).")
    var endpointFile: String?

    @Option(help: "The coordinator's control address (host:port), instead of an endpoint file.")
    var coordinator: Endpoint?

    @Option(help: "The fabric's client key file (default: the endpoint file's, or $TRIBUTARY_CLIENT_KEY_FILE).")
    var clientKeyFile: String?

    /// The coordinator and the client key, or an error saying what is missing.
    func resolve() throws -> (Endpoint, AuthKey) {
        let environment = ProcessInfo.processInfo.environment
        var endpoint: FabricEndpoint?
        if let path = endpointFile ?? environment[FabricEndpoint.environmentVariable] {
            endpoint = try Self.readEndpoint(path)
        }
        guard let coordinator = coordinator ?? endpoint?.coordinator else {
            throw ValidationError("no fabric named: give --fabric-endpoint FILE (from `tributary serve --endpoint-file`), "
                                  + "set $\(FabricEndpoint.environmentVariable), or give --coordinator and --client-key-file")
        }
        guard let keyFile = clientKeyFile ?? environment[FabricEndpoint.clientKeyVariable] ?? endpoint?.clientKeyFile else {
            throw ValidationError("no client key: give --client-key-file or an endpoint file (`tributary serve` writes both)")
        }
        do {
            return (coordinator, try KeyFile.read(keyFile, allowGroup: true))
        } catch {
            throw ValidationError("\(error)")
        }
    }

    static func readEndpoint(_ path: String) throws -> FabricEndpoint {
        do {
            return try FabricEndpoint.read(path)
        } catch {
            throw ValidationError(error.description)
        }
    }
}

/// The fabric secret a daemon (coordinator, aggregator) proves itself with.
struct DaemonKeyOptions: ParsableArguments {
    @Option(help: "The fabric's secret key file (mode 0600; `serve` and `launch` write it). Default: $TRIBUTARY_SECRET_FILE.")
    var secretFile: String?

    func credentials() throws -> FabricCredentials {
        guard let path = secretFile ?? ProcessInfo.processInfo.environment["TRIBUTARY_SECRET_FILE"] else {
            throw ValidationError("no fabric secret: give --secret-file (`tributary serve` makes one)")
        }
        do {
            return FabricCredentials(secret: try KeyFile.read(path))
        } catch {
            throw ValidationError("\(error)")
        }
    }
}

/// Writes `value` as JSON to `path` atomically (a reader never sees half a file).
func writeJSONAtomically<T: Encodable>(_ value: T, to path: String) throws {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
    try (encoder.encode(value) + Data("\n".utf8)).write(to: URL(fileURLWithPath: path + ".tmp"))
    guard rename(path + ".tmp", path) == 0 else {
        throw ValidationError("cannot write \(path): \(String(cString: strerror(errno)))")
    }
}
