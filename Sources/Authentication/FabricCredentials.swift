import Foundation

/// The keys of one fabric. Daemons (the coordinator, the aggregators) hold the fabric secret;
/// clients (workers, `tributary jobs`, applications) hold only the client key derived from it, so a
/// client can attach jobs but cannot register as a switch. Both are files only their user can read.
public struct FabricCredentials: Sendable {
    static let daemonLabel = "tributary daemon key v1"
    static let clientLabel = "tributary client key v1"

    /// nil in a client: it cannot prove itself a daemon.
    public let secret: AuthKey?
    public let clientKey: AuthKey

    public init(secret: AuthKey) {
        self.secret = secret
        self.clientKey = secret.derive(Self.clientLabel)
    }

    public init(clientKey: AuthKey) {
        self.secret = nil
        self.clientKey = clientKey
    }

    /// What daemons prove themselves with.
    public var daemonKey: AuthKey? { secret?.derive(Self.daemonLabel) }

    /// The key a peer in `role` must prove: daemons the daemon key, everyone else the client key.
    public func key(for role: Role) -> AuthKey? {
        switch role {
        case .aggregator, .coordinator: return daemonKey
        case .worker, .client: return clientKey
        }
    }
}

import TributaryCore

/// Key files: 64 hex digits and a newline, mode 0600, written without following links.
public enum KeyFile {
    /// Writes `key` to a new file at `path` readable only by this user (an existing file is replaced).
    public static func write(_ key: AuthKey, to path: String) throws(AuthenticationError) {
        unlink(path)
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw .keyFile(path: path, reason: "open: \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        fchmod(fd, 0o600)
        let text = Array((key.hex + "\n").utf8)
        let written = text.withUnsafeBytes { Foundation.write(fd, $0.baseAddress, $0.count) }
        guard written == text.count else {
            throw .keyFile(path: path, reason: "write: \(String(cString: strerror(errno)))")
        }
    }

    /// Reads a key file. A file others can read is refused (as ssh refuses such a private key):
    /// `allowGroup` lets an operator share a client key with a group of users.
    public static func read(_ path: String, allowGroup: Bool = false) throws(AuthenticationError) -> AuthKey {
        let fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)
        guard fd >= 0 else { throw .keyFile(path: path, reason: "open: \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else {
            throw .keyFile(path: path, reason: "fstat: \(String(cString: strerror(errno)))")
        }
        let forbidden: mode_t = allowGroup ? 0o007 : 0o077
        guard info.st_mode & forbidden == 0 else {
            throw .keyFile(path: path, reason: String(format: "mode %o lets other users read it; chmod 600 it",
                                                      info.st_mode & 0o777))
        }
        var buffer = [UInt8](repeating: 0, count: 256)
        let count = buffer.withUnsafeMutableBytes { Foundation.read(fd, $0.baseAddress, $0.count) }
        guard count > 0 else { throw .keyFile(path: path, reason: "empty or unreadable") }
        do {
            return try AuthKey(hex: String(decoding: buffer[..<count], as: UTF8.self))
        } catch {
            throw .keyFile(path: path, reason: "\(error)")
        }
    }
}
