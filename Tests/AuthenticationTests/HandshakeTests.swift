import Authentication
import Foundation
import Testing
import Transport
import TributaryCore

/// The challenge–response every connection starts with, driven over the in-process transport.
@Suite struct HandshakeTests {
    /// An acceptor and a connector on a fresh listener; `connect` and `accept` run concurrently.
    static func handshake(connectorKey: AuthKey, acceptorKey: AuthKey, hello: Hello = Hello(role: .worker, name: "rank 0"))
        async throws -> (connector: Result<HelloAck, Error>, acceptor: Result<Hello, Error>) {
        let net = InProcessTransport(viaWireFormat: true)
        let listener = try await net.listen(on: Endpoint(host: "inproc", port: 0))
        defer { Task { await listener.close() } }
        async let accepted: Result<Hello, Error> = {
            var connections = listener.connections.makeAsyncIterator()
            guard let server = await connections.next() else { return .failure(CancellationError()) }
            var inbound = server.inbound.makeAsyncIterator()
            do {
                return .success(try await Handshake.accept(server, inbound: &inbound, as: "acceptor",
                                                           timeout: .seconds(5)) { _ in acceptorKey })
            } catch {
                return .failure(error)
            }
        }()
        let client = try await net.connect(to: listener.endpoint)
        var inbound = client.inbound.makeAsyncIterator()
        let connector: Result<HelloAck, Error>
        do {
            connector = .success(try await Handshake.connect(client, inbound: &inbound, hello: hello, key: connectorKey,
                                                            timeout: .seconds(5)))
        } catch {
            connector = .failure(error)
        }
        return (connector, await accepted)
    }

    @Test func peersSharingAKeyAuthenticateEachOther() async throws {
        let key = AuthKey.random()
        let (connector, acceptor) = try await Self.handshake(connectorKey: key, acceptorKey: key,
                                                             hello: Hello(role: .worker, name: "rank 3", job: 9,
                                                                          childIndex: 2))
        #expect(try connector.get().name == "acceptor")
        let hello = try acceptor.get()
        #expect(hello.name == "rank 3" && hello.job == 9 && hello.childIndex == 2)
        // The key itself never travels: only nonces and proofs are in the hello.
        #expect(hello.proof != nil && hello.proof != key.hex)
    }

    @Test func aConnectorWithoutTheKeyIsRefusedAndToldWhy() async throws {
        let (connector, acceptor) = try await Self.handshake(connectorKey: .random(), acceptorKey: .random())
        #expect(acceptor.error.map { "\($0)" }?.contains("did not prove the key") == true, "\(acceptor)")
        guard case .failure(let error) = connector, let report = error as? ErrorReport else {
            Issue.record("connector was not refused: \(connector)")
            return
        }
        #expect(report.kind == .unauthenticated)
    }

    @Test func anAcceptorRefusingEveryHelloIsNamed() async throws {
        let net = InProcessTransport(viaWireFormat: true)
        let listener = try await net.listen(on: Endpoint(host: "inproc", port: 0))
        let refusal = Task {
            var connections = listener.connections.makeAsyncIterator()
            let server = await connections.next()!
            var inbound = server.inbound.makeAsyncIterator()
            return try await Handshake.accept(server, inbound: &inbound, as: "leaf0", timeout: .seconds(5)) {
                hello throws(Handshake.Refusal) in
                throw Handshake.Refusal(.unknownJob, "unknown job \(hello.job ?? 0)")
            }
        }
        let client = try await net.connect(to: listener.endpoint)
        var inbound = client.inbound.makeAsyncIterator()
        await #expect(throws: ErrorReport.self) {
            _ = try await Handshake.connect(client, inbound: &inbound, hello: Hello(role: .worker, name: "r", job: 4),
                                            key: .random(), timeout: .seconds(5))
        }
        await #expect(throws: Handshake.Refusal.self) { _ = try await refusal.value }
        await listener.close()
    }

    /// A peer that took the port but does not hold the key cannot pass itself off as the acceptor:
    /// its acknowledgement carries no valid proof.
    @Test func aConnectorDetectsAnImpostorAcceptor() async throws {
        let net = InProcessTransport(viaWireFormat: true)
        let listener = try await net.listen(on: Endpoint(host: "inproc", port: 0))
        let impostor = Task {
            var connections = listener.connections.makeAsyncIterator()
            let server = await connections.next()!
            server.send(.control(.challenge(Handshake.challenge())))
            var inbound = server.inbound.makeAsyncIterator()
            _ = try await inbound.next()
            server.send(.control(.helloAck(HelloAck(name: "coordinator", proof: String(repeating: "0", count: 64)))))
        }
        let client = try await net.connect(to: listener.endpoint)
        var inbound = client.inbound.makeAsyncIterator()
        do {
            _ = try await Handshake.connect(client, inbound: &inbound, hello: Hello(role: .worker, name: "r"),
                                            key: .random(), timeout: .seconds(5))
            Issue.record("an impostor's acknowledgement was accepted")
        } catch let error as AuthenticationError {
            #expect("\(error)".contains("does not prove the key"))
        }
        try await impostor.value
        await listener.close()
    }

    /// A hello recorded from one handshake proves nothing against another challenge.
    @Test func aReplayedHelloFailsAgainstAFreshChallenge() {
        let key = AuthKey.random()
        let first = Handshake.challenge()
        let hello = Handshake.answer(first, with: Hello(role: .aggregator, name: "leaf0"), key: key)
        #expect(Handshake.verify(hello, answering: first, key: key))
        #expect(!Handshake.verify(hello, answering: Handshake.challenge(), key: key))
        // Changing any field the proof covers breaks it.
        var renamed = hello
        renamed.name = "leaf1"
        #expect(!Handshake.verify(renamed, answering: first, key: key))
        var promoted = hello
        promoted.role = .coordinator
        #expect(!Handshake.verify(promoted, answering: first, key: key))
        var unproved = hello
        unproved.proof = nil
        #expect(!Handshake.verify(unproved, answering: first, key: key))
    }

    @Test func aSilentAcceptorTimesOutNamingThePeer() async throws {
        let net = InProcessTransport(viaWireFormat: true)
        let listener = try await net.listen(on: Endpoint(host: "inproc", port: 0))
        let client = try await net.connect(to: listener.endpoint)
        var inbound = client.inbound.makeAsyncIterator()
        do {
            _ = try await Handshake.connect(client, inbound: &inbound, hello: Hello(role: .worker, name: "r"),
                                            key: .random(), timeout: .milliseconds(200))
            Issue.record("a silent acceptor did not time out")
        } catch let error as AuthenticationError {
            #expect("\(error)".contains(client.peer))
            #expect("\(error)".contains("challenge"))
        }
        await listener.close()
    }
}

@Suite struct KeyTests {
    static func temporaryPath() -> String {
        NSTemporaryDirectory() + "tributary-key-\(UUID().uuidString)"
    }

    @Test func keyFilesAreWrittenForTheirOwnerOnlyAndReadBack() throws {
        let path = Self.temporaryPath()
        defer { unlink(path) }
        let key = AuthKey.random()
        try KeyFile.write(key, to: path)
        var info = stat()
        #expect(stat(path, &info) == 0)
        #expect(info.st_mode & 0o777 == 0o600)
        #expect(try KeyFile.read(path) == key)
    }

    @Test func aKeyFileOthersCanReadIsRefused() throws {
        let path = Self.temporaryPath()
        defer { unlink(path) }
        try KeyFile.write(.random(), to: path)
        chmod(path, 0o644)
        #expect(throws: AuthenticationError.self) { _ = try KeyFile.read(path) }
        do {
            _ = try KeyFile.read(path)
        } catch {
            #expect("\(error)".contains("chmod 600") && "\(error)".contains(path))
        }
        // A client key may be shared with a group, never with everyone.
        chmod(path, 0o640)
        #expect(throws: Never.self) { _ = try KeyFile.read(path, allowGroup: true) }
        chmod(path, 0o604)
        #expect(throws: AuthenticationError.self) { _ = try KeyFile.read(path, allowGroup: true) }
    }

    @Test func malformedKeysAreRefused() throws {
        #expect(throws: AuthenticationError.self) { _ = try AuthKey(hex: "abc") }
        #expect(throws: AuthenticationError.self) { _ = try AuthKey(hex: String(repeating: "g", count: 64)) }
        let key = AuthKey.random()
        #expect(try AuthKey(hex: key.hex + "\n") == key)
    }

    /// Clients hold a key derived from the fabric secret: it proves a client, never a daemon.
    @Test func theClientKeyCannotProveADaemon() {
        let fabric = FabricCredentials(secret: .random())
        let client = FabricCredentials(clientKey: fabric.clientKey)
        #expect(client.key(for: .worker) == fabric.key(for: .worker))
        #expect(client.key(for: .aggregator) == nil)
        #expect(fabric.key(for: .aggregator) != fabric.key(for: .worker))
        let challenge = Handshake.challenge()
        let forged = Handshake.answer(challenge, with: Hello(role: .aggregator, name: "leaf0"), key: fabric.clientKey)
        #expect(!Handshake.verify(forged, answering: challenge, key: fabric.daemonKey!))
    }

    @Test func jobProofsMatchOnlyForTheSameSecretAndJob() {
        let a = JobSecret.proof(secret: "s3cret", jobName: "train")
        #expect(JobSecret.matches(a, JobSecret.proof(secret: "s3cret", jobName: "train")))
        #expect(!JobSecret.matches(a, JobSecret.proof(secret: "other", jobName: "train")))
        #expect(!JobSecret.matches(a, JobSecret.proof(secret: "s3cret", jobName: "eval")))
        #expect(!a.contains("s3cret"))
        #expect(JobSecret.generate() != JobSecret.generate())
    }
}

extension Result {
    var error: Failure? {
        if case .failure(let e) = self { return e }
        return nil
    }
}
