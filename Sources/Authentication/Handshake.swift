import Foundation
import Transport
import TributaryCore

/// The challenge–response every connection starts with, on both planes (docs/SECURITY.md):
///
/// 1. the acceptor sends `challenge` with a fresh nonce;
/// 2. the connector answers with `hello`, carrying its own nonce and an HMAC of both nonces and
///    its identity (role, name, job, child index) under the key they should share;
/// 3. the acceptor checks it and answers `helloAck` with its own HMAC of both nonces.
///
/// Neither side ever sends the key, a replayed hello fails against a new nonce, and the connector
/// learns it reached a peer that holds the key, not whoever took the port.
public enum Handshake {
    public static func challenge() -> Challenge { Challenge(nonce: nonce()) }

    static func nonce() -> String {
        var rng = SystemRandomNumberGenerator()
        return Hex.encode((0..<16).map { _ in UInt8.random(in: 0...255, using: &rng) })
    }

    static func transcript(_ hello: Hello, _ challenge: Challenge) -> String {
        ["tributary-hello-v1", challenge.nonce, hello.nonce ?? "", hello.role.rawValue, hello.name,
         hello.job.map(String.init) ?? "-", hello.childIndex.map(String.init) ?? "-", "\(hello.protocolVersion)"]
            .joined(separator: "|")
    }

    static func ackTranscript(_ ack: HelloAck, _ hello: Hello, _ challenge: Challenge) -> String {
        ["tributary-ack-v1", challenge.nonce, hello.nonce ?? "", ack.name, transcript(hello, challenge)]
            .joined(separator: "|")
    }

    /// The connector's hello answering `challenge`.
    public static func answer(_ challenge: Challenge, with hello: Hello, key: AuthKey) -> Hello {
        var hello = hello
        hello.nonce = nonce()
        hello.proof = key.mac(transcript(hello, challenge))
        return hello
    }

    public static func verify(_ hello: Hello, answering challenge: Challenge, key: AuthKey) -> Bool {
        hello.nonce != nil && key.verify(hello.proof, of: transcript(hello, challenge))
    }

    /// The acceptor's answer to a verified hello.
    public static func acknowledge(_ hello: Hello, challenge: Challenge, as name: String, key: AuthKey) -> HelloAck {
        var ack = HelloAck(name: name)
        ack.proof = key.mac(ackTranscript(ack, hello, challenge))
        return ack
    }

    public static func verify(_ ack: HelloAck, of hello: Hello, challenge: Challenge, key: AuthKey) -> Bool {
        key.verify(ack.proof, of: ackTranscript(ack, hello, challenge))
    }

    // MARK: Over a connection

    /// Connector side: waits for the challenge, proves `key`, and checks the acceptor's proof.
    /// Throws naming the peer when it refuses us, answers without the key, or is silent for `timeout`.
    public static func connect(_ connection: any FrameConnection,
                               inbound: inout AsyncThrowingStream<Frame, Error>.AsyncIterator,
                               hello: Hello, key: AuthKey, timeout: Duration,
                               isolation: isolated (any Actor)? = #isolation) async throws -> HelloAck {
        let peer = connection.peer
        let closer = Task {
            try await Task.sleep(for: timeout)
            connection.close()
        }
        defer { closer.cancel() }
        func next(_ what: String) async throws -> ControlMessage {
            guard let frame = try await inbound.next(isolation: isolation) else {
                throw AuthenticationError.unexpected(
                    peer: peer, what: "closed the connection while we waited for \(what) (or sent none within \(timeout))")
            }
            switch frame {
            case .control(.error(let report)): throw report
            case .control(let message): return message
            case .chunk: throw AuthenticationError.unexpected(peer: peer, what: "a data chunk before \(what)")
            }
        }
        guard case .challenge(let challenge) = try await next("its challenge") else {
            throw AuthenticationError.unexpected(peer: peer, what: "no challenge first")
        }
        let answered = answer(challenge, with: hello, key: key)
        connection.send(.control(.hello(answered)))
        let reply = try await next("its acknowledgement")
        guard case .helloAck(let ack) = reply else {
            throw AuthenticationError.unexpected(peer: peer, what: "\(reply) instead of an acknowledgement")
        }
        guard verify(ack, of: answered, challenge: challenge, key: key) else {
            connection.close()
            throw AuthenticationError.refused(peer: peer, reason: "its acknowledgement does not prove the key we share "
                                                  + "(not a peer of this fabric or job)")
        }
        connection.authenticated()
        return ack
    }

    /// Connects to `endpoint` over `transport` and runs the connector's side of the handshake; a
    /// connection whose handshake fails is closed. Returns the connection and its frames from after
    /// the handshake, for the one task that reads them.
    public static func open(_ endpoint: Endpoint, over transport: any FrameTransport, hello: Hello, key: AuthKey,
                            timeout: Duration) async throws -> (connection: any FrameConnection, inbound: IteratorBox) {
        let connection = try await transport.connect(to: endpoint)
        var inbound = connection.inbound.makeAsyncIterator()
        do {
            _ = try await connect(connection, inbound: &inbound, hello: hello, key: key, timeout: timeout,
                                  isolation: nil)
        } catch {
            connection.close()
            throw error
        }
        return (connection, IteratorBox(inbound))
    }

    /// What an acceptor's `keyFor` answers for a hello it cannot serve at all.
    public struct Refusal: Error, Sendable {
        public var kind: ErrorReport.Kind
        public var message: String
        public init(_ kind: ErrorReport.Kind, _ message: String) {
            self.kind = kind
            self.message = message
        }
    }

    /// Acceptor side: challenges, waits up to `timeout` for the hello, checks it against the key
    /// `keyFor` names for it (which may refuse the hello outright), acknowledges and lifts the
    /// connection's limits. A peer that fails is told why, closed, and the refusal thrown.
    public static func accept(_ connection: any FrameConnection,
                              inbound: inout AsyncThrowingStream<Frame, Error>.AsyncIterator,
                              as name: String, timeout: Duration,
                              keyFor: (Hello) throws(Refusal) -> AuthKey,
                              isolation: isolated (any Actor)? = #isolation) async throws -> Hello {
        let challenge = challenge()
        connection.send(.control(.challenge(challenge)))
        let closer = Task {
            try await Task.sleep(for: timeout)
            connection.close()
        }
        let first: Frame?
        do {
            first = try await inbound.next(isolation: isolation)
            closer.cancel()
        } catch {
            closer.cancel()
            throw error
        }
        guard let first else {
            throw Refusal(.timeout, "sent no hello within \(timeout)")
        }
        guard case .control(.hello(let hello)) = first else {
            throw await refuse(connection, name, Refusal(.protocolViolation, "first frame must be hello, got \(first)"))
        }
        guard hello.protocolVersion == WireFormat.version else {
            throw await refuse(connection, name, Refusal(
                .versionMismatch, "protocol version \(hello.protocolVersion) (\(name) speaks \(WireFormat.version))"))
        }
        let key: AuthKey
        do {
            key = try keyFor(hello)
        } catch {
            throw await refuse(connection, name, error)
        }
        guard verify(hello, answering: challenge, key: key) else {
            throw await refuse(connection, name, Refusal(
                .unauthenticated, "\(hello.role.rawValue) \(hello.name) did not prove the key"))
        }
        connection.authenticated()
        connection.send(.control(.helloAck(acknowledge(hello, challenge: challenge, as: name, key: key))))
        return hello
    }

    /// Tells the peer why, closes once the error frame has left, returns the refusal.
    public static func refuse(_ connection: any FrameConnection, _ reporter: String, _ refusal: Refusal) async
        -> Refusal {
        try? await connection.sendAndWait(.control(.error(ErrorReport(kind: refusal.kind, reporter: reporter,
                                                                      message: refusal.message))))
        connection.close()
        return refusal
    }
}

extension Handshake.Refusal: CustomStringConvertible {
    public var description: String { "\(kind): \(message)" }
}
