import Crypto
import Foundation

/// A 256-bit key that proves membership by HMAC-SHA256 and is never sent itself: the fabric's
/// secret, the key clients hold, or a job's data key (docs/SECURITY.md).
public struct AuthKey: Sendable, Equatable {
    let key: SymmetricKey

    public init(_ key: SymmetricKey) { self.key = key }

    /// A new key from the system's cryptographic random source.
    public static func random() -> AuthKey { AuthKey(SymmetricKey(size: .bits256)) }

    /// A key written as 64 hex digits (what `hex` gives and the key files hold).
    public init(hex text: String) throws(AuthenticationError) {
        let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
        guard let bytes = Hex.decode(trimmed), bytes.count == 32 else {
            throw .malformedKey("a key must be 64 hex digits, got \(trimmed.count) characters")
        }
        key = SymmetricKey(data: bytes)
    }

    public var hex: String { key.withUnsafeBytes { Hex.encode($0) } }

    /// A key for one purpose derived from this one (HMAC over the label): holders of the derived
    /// key cannot recover this one, so the fabric can give clients a key that does not let them
    /// pose as its switches.
    public func derive(_ label: String) -> AuthKey {
        AuthKey(SymmetricKey(data: Array(HMAC<SHA256>.authenticationCode(for: Array(label.utf8), using: key))))
    }

    /// HMAC-SHA256 of `message`, in hex.
    public func mac(_ message: String) -> String {
        Hex.encode(Array(HMAC<SHA256>.authenticationCode(for: Array(message.utf8), using: key)))
    }

    /// Whether `proof` is this key's MAC of `message`, compared in constant time.
    public func verify(_ proof: String?, of message: String) -> Bool {
        guard let proof, let bytes = Hex.decode(proof), bytes.count == SHA256.byteCount else { return false }
        return HMAC<SHA256>.isValidAuthenticationCode(bytes, authenticating: Array(message.utf8), using: key)
    }

    public static func == (a: AuthKey, b: AuthKey) -> Bool { a.key == b.key }
}

/// Failures of keys and handshakes, each naming the file or the peer.
public enum AuthenticationError: Error, Sendable, CustomStringConvertible, Equatable {
    case malformedKey(String)
    case keyFile(path: String, reason: String)
    /// The peer answered without proving it holds the key we share with it.
    case refused(peer: String, reason: String)
    case unexpected(peer: String, what: String)

    public var description: String {
        switch self {
        case .malformedKey(let why): return "malformed key: \(why)"
        case .keyFile(let path, let why): return "key file \(path): \(why)"
        case .refused(let peer, let why): return "\(peer) refused: \(why)"
        case .unexpected(let peer, let what): return "unexpected answer from \(peer) during the handshake: \(what)"
        }
    }
}

/// Lower-case hex, for keys, nonces and proofs inside JSON control messages.
enum Hex {
    static func encode<S: Sequence>(_ bytes: S) -> String where S.Element == UInt8 {
        let digits = Array("0123456789abcdef".utf8)
        var out: [UInt8] = []
        for b in bytes {
            out.append(digits[Int(b >> 4)])
            out.append(digits[Int(b & 15)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    static func encode(_ raw: UnsafeRawBufferPointer) -> String { encode(raw.bindMemory(to: UInt8.self)) }

    static func decode(_ text: String) -> [UInt8]? {
        let chars = Array(text.utf8)
        guard chars.count % 2 == 0, chars.count <= 256 else { return nil }
        func value(_ c: UInt8) -> UInt8? {
            switch c {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): return c - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): return c - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): return c - UInt8(ascii: "A") + 10
            default: return nil
            }
        }
        var out: [UInt8] = []
        out.reserveCapacity(chars.count / 2)
        var i = 0
        while i < chars.count {
            guard let hi = value(chars[i]), let lo = value(chars[i + 1]) else { return nil }
            out.append(hi << 4 | lo)
            i += 2
        }
        return out
    }
}
