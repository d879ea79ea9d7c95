#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Testing
import Verbs

/// Tests that need a real (or soft-RoCE) device. Skipped, with the reason, on hosts without one;
/// run inside the rxe VM.
@Suite(.serialized) struct DeviceTests {
    /// The device, port and GID index the readiness check chose, opened.
    struct Opened {
        let choice: RDMAReadiness.Report.Choice
        let context: Context
        let port: PortAttributes
    }

    static func open() throws -> Opened {
        let report = RDMAReadiness.check()
        let choice = try #require(report.choice, "\(report.reason)")
        let list = try DeviceList()
        let device = try #require(list.device(named: choice.device))
        let context = try device.open()
        return Opened(choice: choice, context: context, port: try context.queryPort(choice.port))
    }

    /// Polls `cq` until `count` completions arrived (or 20 s passed: emulation is slow), checking each.
    static func waitForCompletions(_ cq: CompletionQueue, count: Int, peer: String) throws -> [WorkCompletion] {
        var completions: [WorkCompletion] = []
        let deadline = ContinuousClock.now + .seconds(20)
        while completions.count < count && ContinuousClock.now < deadline {
            if try cq.poll(into: &completions) == 0 {
                usleep(200)
            }
        }
        try #require(completions.count == count, "got \(completions.count) of \(count) completions")
        for completion in completions {
            try completion.checked(peer: peer)
        }
        return completions
    }

    /// Waits (up to 20 s) for `kind` on `channel`.
    @discardableResult
    static func wait(for kind: CMEvent.Kind, on channel: EventChannel) throws -> CMEvent {
        var descriptor = pollfd(fd: channel.fileDescriptor, events: Int16(POLLIN), revents: 0)
        try #require(poll(&descriptor, 1, 20_000) == 1, "no CM event within 20 s while waiting for \(kind)")
        return try channel.expect(kind)
    }

    @Test(.enabled(if: RDMAHost.usable, RDMAHost.skipReason))
    func readinessNamesTheRoCEv2IPv4GID() throws {
        let report = RDMAReadiness.check()
        print(report.render())
        #expect(report.usable)
        #expect(report.problems.isEmpty)
        let choice = try #require(report.choice)
        #expect(choice.activeMTU >= 256)
        if let index = choice.gidIndex {
            #expect(index < RDMAReadiness.gidEntriesRead)
            #expect(choice.ipv4Address != nil)
        }
    }

    @Test(.enabled(if: RDMAHost.usable, RDMAHost.skipReason))
    func openQueryAllocateRegisterCreateAndMoveToInit() throws {
        let opened = try Self.open()
        let context = opened.context
        let attributes = try context.queryDevice()
        #expect(attributes.maxQP > 0)
        #expect(attributes.maxCQ > 0)
        #expect(attributes.maxMR > 0)
        #expect(attributes.maxMRSize > 0)
        #expect(attributes.maxQPWR > 0)
        #expect(attributes.physPortCount >= Int(opened.choice.port))
        #expect(opened.port.state.isActive)
        #expect([256, 512, 1024, 2048, 4096].contains(opened.port.activeMTU))
        if let index = opened.choice.gidIndex {
            let gid = try context.gid(port: opened.choice.port, index: index)
            #expect(gid.isIPv4MappedRoCEv2)
            #expect(gid.ipv4Address == opened.choice.ipv4Address)
        }

        let pd = try context.allocateProtectionDomain()
        let owned = try MemoryRegion(protectionDomain: pd, allocating: 8192)
        #expect(owned.length == 8192)
        #expect(owned.address == UInt64(UInt(bitPattern: owned.buffer.baseAddress)))
        #expect(owned.buffer.allSatisfy { $0 == 0 })

        let external = UnsafeMutableRawBufferPointer.allocate(byteCount: 4096, alignment: 64)
        defer { external.deallocate() }
        do {
            let registered = try MemoryRegion(protectionDomain: pd, registering: external)
            #expect(registered.length == 4096)
            #expect(registered.segment(offset: 100, length: 200).length == 200)
        }

        let channel = try CompletionChannel(context: context)
        let cq = try CompletionQueue(context: context, entries: 64, channel: channel)
        #expect(cq.capacity >= 64)
        try cq.requestNotify()
        var completions: [WorkCompletion] = []
        #expect(try cq.poll(into: &completions) == 0)
        channel.setNonBlocking()
        #expect(try channel.nextEvent() == nil)

        let qp = try QueuePair(protectionDomain: pd, sendQueue: cq, receiveQueue: cq)
        #expect(qp.state == .reset)
        #expect(qp.capabilities.maxSendWR >= 128)
        try qp.moveToInit(port: opened.choice.port)
        #expect(qp.state == .initialized)
        // A receive may be posted in INIT.
        try qp.postRecv(wrID: 1, segment: owned.segment())
        try qp.moveToError()
        let flushed = try Self.waitForCompletionsAllowingErrors(cq, count: 1)
        #expect(flushed.first?.status == .flushed)
    }

    static func waitForCompletionsAllowingErrors(_ cq: CompletionQueue, count: Int) throws -> [WorkCompletion] {
        var completions: [WorkCompletion] = []
        let deadline = ContinuousClock.now + .seconds(20)
        while completions.count < count && ContinuousClock.now < deadline {
            if try cq.poll(into: &completions) == 0 { usleep(200) }
        }
        return completions
    }

    /// Two QPs of one device connected by hand (rc_pingpong's path): SEND with immediate one way,
    /// RDMA WRITE with immediate the other.
    @Test(.enabled(if: RDMAHost.usable, RDMAHost.skipReason))
    func handConnectedLoopbackSendAndWriteWithImmediate() throws {
        let opened = try Self.open()
        let port = opened.choice.port
        let gidIndex = opened.choice.gidIndex ?? 0
        let gid = try opened.context.gid(port: port, index: gidIndex)
        let pd = try opened.context.allocateProtectionDomain()
        let cqA = try CompletionQueue(context: opened.context, entries: 16)
        let cqB = try CompletionQueue(context: opened.context, entries: 16)
        let a = try QueuePair(protectionDomain: pd, sendQueue: cqA, receiveQueue: cqA)
        let b = try QueuePair(protectionDomain: pd, sendQueue: cqB, receiveQueue: cqB)
        let memoryA = try MemoryRegion(protectionDomain: pd, allocating: 4096)
        let memoryB = try MemoryRegion(protectionDomain: pd, allocating: 4096)
        let endpointA = QueuePair.Endpoint(qpNumber: a.qpNumber, packetSequenceNumber: 100, gid: gid,
                                           lid: opened.port.lid)
        let endpointB = QueuePair.Endpoint(qpNumber: b.qpNumber, packetSequenceNumber: 200, gid: gid,
                                           lid: opened.port.lid)
        for (qp, remote, psn) in [(a, endpointB, UInt32(100)), (b, endpointA, UInt32(200))] {
            try qp.moveToInit(port: port)
            try qp.moveToRTR(remote: remote, port: port, gidIndex: gidIndex, mtu: opened.port.activeMTU)
            try qp.moveToRTS(packetSequenceNumber: psn)
            #expect(qp.state == .readyToSend)
        }

        // A → B: SEND with immediate into B's posted receive.
        let message = Array("tributary".utf8)
        memoryA.buffer.copyBytes(from: message)
        try b.postRecv(wrID: 10, segment: memoryB.segment())
        try a.postSend(wrID: 11, .sendWithImmediate(0xCAFE), segment: memoryA.segment(length: message.count))
        _ = try Self.waitForCompletions(cqA, count: 1, peer: "B")
        let received = try Self.waitForCompletions(cqB, count: 1, peer: "A")
        #expect(received[0].wrID == 10)
        #expect(received[0].opcode == .receive)
        #expect(received[0].byteLength == message.count)
        #expect(received[0].immData == 0xCAFE)
        #expect(Array(memoryB.buffer.prefix(message.count)) == message)

        // B → A: RDMA WRITE with immediate at offset 1000 of A's region, consuming an empty receive.
        let reply = Array("reduced".utf8)
        memoryB.buffer.copyBytes(from: reply)
        try a.postRecv(wrID: 20, segments: [])
        try b.postSend(wrID: 21, .rdmaWriteWithImmediate(7, memoryA.remote(offset: 1000)),
                       segment: memoryB.segment(length: reply.count))
        _ = try Self.waitForCompletions(cqB, count: 1, peer: "A")
        let written = try Self.waitForCompletions(cqA, count: 1, peer: "B")
        #expect(written[0].wrID == 20)
        #expect(written[0].opcode == .receiveRDMAWithImmediate)
        #expect(written[0].immData == 7)
        #expect(Array(memoryA.buffer[1000..<(1000 + reply.count)]) == reply)
    }

    /// rdma_cm on the device's own IPv4 address (rxe does not bind to lo, so not 127.0.0.1): connect,
    /// exchange a SEND and an RDMA WRITE with immediate, disconnect.
    @Test(.enabled(if: RDMAHost.usable, RDMAHost.skipReason))
    func rdmaCMLoopbackOnTheDeviceAddress() throws {
        let opened = try Self.open()
        let ip = try #require(opened.choice.ipv4Address, "the chosen port has no IPv4 address")

        let serverChannel = try EventChannel()
        let listener = try CMID(channel: serverChannel)
        try listener.bind(try #require(CMAddress(host: ip, port: 0)))
        try listener.listen()
        let port = try #require(listener.localAddress?.port)
        #expect(port != 0)

        let clientChannel = try EventChannel()
        let client = try CMID(channel: clientChannel)
        try client.resolveAddress(to: try #require(CMAddress(host: ip, port: port)))
        try Self.wait(for: .addressResolved, on: clientChannel)
        try client.resolveRoute()
        try Self.wait(for: .routeResolved, on: clientChannel)

        let clientContext = try #require(client.context)
        let clientPD = try clientContext.allocateProtectionDomain()
        let clientCQ = try CompletionQueue(context: clientContext, entries: 16)
        let clientQP = try client.createQP(pd: clientPD, cq: clientCQ)
        let clientMemory = try MemoryRegion(protectionDomain: clientPD, allocating: 4096)
        try clientQP.postRecv(wrID: 1, segments: [])
        try client.connect(ConnectionParameters(privateData: [0x54, 0x52]))

        let request = try Self.wait(for: .connectRequest, on: serverChannel)
        guard case .connectRequest(let server, let privateData) = request else {
            Issue.record("expected a connect request, got \(request)")
            return
        }
        #expect(privateData.prefix(2) == [0x54, 0x52])
        let serverContext = try #require(server.context)
        let serverPD = try serverContext.allocateProtectionDomain()
        let serverCQ = try CompletionQueue(context: serverContext, entries: 16)
        let serverQP = try server.createQP(pd: serverPD, cq: serverCQ)
        let serverMemory = try MemoryRegion(protectionDomain: serverPD, allocating: 4096)
        try serverQP.postRecv(wrID: 2, segment: serverMemory.segment())
        try server.accept()

        try Self.wait(for: .established, on: clientChannel)
        try Self.wait(for: .established, on: serverChannel)
        #expect(clientQP.state == .readyToSend)

        // Client → server: SEND.
        let message = Array("chunk 0".utf8)
        clientMemory.buffer.copyBytes(from: message)
        try clientQP.postSend(wrID: 3, .send, segment: clientMemory.segment(length: message.count))
        _ = try Self.waitForCompletions(clientCQ, count: 1, peer: "server")
        let received = try Self.waitForCompletions(serverCQ, count: 1, peer: "client")
        #expect(received[0].byteLength == message.count)
        #expect(Array(serverMemory.buffer.prefix(message.count)) == message)

        // Server → client: RDMA WRITE with immediate into the client's region.
        let result = Array("sum".utf8)
        serverMemory.buffer.copyBytes(from: result)
        try serverQP.postSend(wrID: 4, .rdmaWriteWithImmediate(42, clientMemory.remote(offset: 2048)),
                              segment: serverMemory.segment(length: result.count))
        _ = try Self.waitForCompletions(serverCQ, count: 1, peer: "client")
        let written = try Self.waitForCompletions(clientCQ, count: 1, peer: "server")
        #expect(written[0].immData == 42)
        #expect(Array(clientMemory.buffer[2048..<(2048 + result.count)]) == result)

        // The active side's DISCONNECTED waits for the peer's reply (DREP), which the passive side sends
        // when it calls disconnect in turn.
        try client.disconnect()
        try Self.wait(for: .disconnected, on: serverChannel)
        try server.disconnect()
        try Self.wait(for: .disconnected, on: clientChannel)
    }
}
