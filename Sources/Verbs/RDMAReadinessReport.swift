#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

extension RDMAReadiness {
    /// The judgement of an `Observation`: whether RDMA can be used here, the one sentence saying why
    /// (or why not), every problem in words, and which device, port and GID index to use.
    public struct Report: Sendable {
        /// Where RDMA traffic should go: the first ACTIVE port with an address rdma_cm can use.
        public struct Choice: Sendable, Equatable {
            public var device: String
            public var port: UInt8
            /// The GID index of the RoCE v2 IPv4 entry (nil on InfiniBand, which needs none).
            public var gidIndex: Int?
            /// The port's IPv4 address (from that GID); rdma_cm binds and connects with it.
            public var ipv4Address: String?
            /// The netdev carrying the address, when known.
            public var netdev: String?
            /// The port's active MTU in bytes.
            public var activeMTU: Int
        }

        /// Whether an RDMA transport can run here.
        public let usable: Bool
        /// One sentence: what will be used, or the first thing that stops RDMA (what `auto` prints).
        public let reason: String
        /// Everything that stops RDMA or a device from working, in words.
        public let problems: [String]
        /// Things that do not stop RDMA now but may bite (a low RLIMIT_MEMLOCK, a second device down).
        public let warnings: [String]
        public let choice: Choice?
        public let observation: Observation

        public init(_ observation: Observation) {
            self.observation = observation
            var problems: [String] = []
            var warnings: [String] = []
            var choice: Choice?
            var reason: String

            switch observation.listing {
            case .failed(let error):
                if error.errorNumber == ENOSYS {
                    reason = "this kernel has no RDMA support (CONFIG_INFINIBAND unset); use the rxe VM"
                } else {
                    reason = "cannot list RDMA devices: \(error)"
                }
                problems.append(reason)
            case .found(let devices) where devices.isEmpty:
                reason = "no RDMA device; for soft-RoCE: rdma link add rxe0 type rxe netdev <if>"
                problems.append(reason)
            case .found(let devices):
                var firstBlocker: String?
                for device in devices {
                    let attributes: DeviceAttributes
                    switch device.attributes {
                    case .failure(let error):
                        let text = "\(device.name): \(error)"
                        problems.append(text)
                        firstBlocker = firstBlocker ?? text
                        continue
                    case .success(let value):
                        attributes = value
                    }
                    if attributes.physPortCount == 0 {
                        let text = "\(device.name) has no ports"
                        problems.append(text)
                        firstBlocker = firstBlocker ?? text
                    }
                    for port in device.ports {
                        let name = "\(device.name) port \(port.number)"
                        let verdict = Self.judge(port, name: name)
                        switch verdict {
                        case .usable(let gid):
                            let state = try? port.attributes.get()
                            if choice == nil {
                                choice = Choice(device: device.name, port: port.number, gidIndex: gid?.index,
                                                ipv4Address: gid?.ipv4Address, netdev: gid?.netdevName,
                                                activeMTU: state?.activeMTU ?? 0)
                            }
                        case .blocked(let text):
                            problems.append(text)
                            firstBlocker = firstBlocker ?? text
                        }
                    }
                    for port in device.ports {
                        for case .failure(let error) in port.gids {
                            warnings.append("\(device.name) port \(port.number): \(error)")
                        }
                    }
                }
                if let choice {
                    var where_ = "\(choice.device) port \(choice.port) is ACTIVE"
                    var details = ["MTU \(choice.activeMTU)"]
                    if let index = choice.gidIndex, let address = choice.ipv4Address {
                        details.append("RoCE v2 GID index \(index) = \(address)"
                                       + (choice.netdev.map { " on \($0)" } ?? ""))
                    }
                    where_ += " (" + details.joined(separator: ", ") + ")"
                    reason = "RDMA is usable: " + where_
                    // Problems on other devices do not stop this one; keep them, as warnings.
                    warnings.insert(contentsOf: problems, at: 0)
                    problems.removeAll()
                } else {
                    reason = firstBlocker ?? "no usable RDMA port"
                }
            }

            // The device files matter once there are devices (without any, the reason above says why).
            let files = observation.deviceFiles
            let hasDevices = if case .found(let devices) = observation.listing { !devices.isEmpty } else { false }
            if hasDevices && !files.contains(where: { $0.hasPrefix("uverbs") }) {
                problems.append("no /dev/infiniband/uverbs* device files: the verbs cannot reach the kernel"
                                + " (load ib_uverbs: modprobe ib_uverbs)")
            }
            if hasDevices && !files.contains("rdma_cm") {
                problems.append("no /dev/infiniband/rdma_cm: rdma_cm cannot connect queue pairs"
                                + " (load rdma_ucm: modprobe rdma_ucm)")
            }
            if let soft = observation.memlockSoft, soft < RDMAReadiness.lowMemlockBytes,
               observation.canLockUnlimited != true {
                warnings.append("RLIMIT_MEMLOCK is \(Self.bytes(soft)): registering more memory than that fails"
                                + " with ENOMEM (raise it with `ulimit -l unlimited`, LimitMEMLOCK=infinity,"
                                + " or docker --ulimit memlock=-1; CAP_IPC_LOCK is exempt)")
            }

            if choice != nil && !problems.isEmpty {
                // The device is fine but the plumbing around it is not (e.g. no rdma_cm).
                reason = problems[0]
            }
            self.usable = choice != nil && problems.isEmpty
            self.reason = reason
            self.problems = problems
            self.warnings = warnings
            self.choice = self.usable ? choice : nil
        }

        private enum Verdict {
            case usable(GID?)
            case blocked(String)
        }

        private static func judge(_ port: PortObservation, name: String) -> Verdict {
            let attributes: PortAttributes
            switch port.attributes {
            case .failure(let error): return .blocked("\(name): \(error)")
            case .success(let value): attributes = value
            }
            guard attributes.state.isActive else {
                return .blocked("\(name) is \(attributes.state.explanation)")
            }
            guard attributes.linkLayer == .ethernet else { return .usable(nil) }
            guard let gid = port.roceV2IPv4GID else {
                return .blocked("\(name) is ACTIVE but none of its first \(port.gids.count) GID entries is a RoCE v2"
                                + " IPv4 address: give its netdev an IPv4 address (ip addr add … dev <if>)")
            }
            return .usable(gid)
        }

        /// The report as `tributary doctor` prints it.
        public func render() -> String {
            var lines: [String] = []
            lines.append(usable ? reason : "RDMA is NOT usable: " + reason)
            lines.append("")
            switch observation.listing {
            case .failed(let error):
                lines.append("devices: none (\(error))")
            case .found(let devices) where devices.isEmpty:
                lines.append("devices: none")
            case .found(let devices):
                lines.append("devices: \(devices.count)")
                for device in devices {
                    lines.append(contentsOf: render(device))
                }
            }
            let files = observation.deviceFiles
            lines.append("/dev/infiniband: " + (files.isEmpty ? "missing or empty" : files.joined(separator: " ")))
            var memlock = "RLIMIT_MEMLOCK: soft \(observation.memlockSoft.map(Self.bytes) ?? "unlimited")"
                + ", hard \(observation.memlockHard.map(Self.bytes) ?? "unlimited")"
            if let capable = observation.canLockUnlimited {
                memlock += capable ? " (CAP_IPC_LOCK: exempt)" : " (no CAP_IPC_LOCK)"
            }
            lines.append(memlock)
            if let choice {
                var use = "use: \(choice.device) port \(choice.port)"
                if let index = choice.gidIndex { use += ", GID index \(index)" }
                if let address = choice.ipv4Address { use += ", address \(address)" }
                if let netdev = choice.netdev { use += " (\(netdev))" }
                lines.append(use)
            }
            if !problems.isEmpty {
                lines.append("problems:")
                lines.append(contentsOf: problems.map { "  - " + $0 })
            }
            if !warnings.isEmpty {
                lines.append("warnings:")
                lines.append(contentsOf: warnings.map { "  - " + $0 })
            }
            return lines.joined(separator: "\n")
        }

        private func render(_ device: DeviceObservation) -> [String] {
            var lines = ["  \(device.name)  GUID \(device.guid)"]
            switch device.attributes {
            case .failure(let error):
                lines.append("    error: \(error)")
                return lines
            case .success(let attributes):
                if !attributes.firmwareVersion.isEmpty {
                    lines.append("    firmware \(attributes.firmwareVersion), \(attributes.physPortCount) port(s)")
                }
                lines.append("    limits: max_qp \(attributes.maxQP), max_cq \(attributes.maxCQ), max_mr \(attributes.maxMR),"
                             + " max_mr_size \(Self.bytes(attributes.maxMRSize)), max_qp_wr \(attributes.maxQPWR),"
                             + " max_sge \(attributes.maxSGE), max_cqe \(attributes.maxCQE)")
            }
            for port in device.ports {
                switch port.attributes {
                case .failure(let error):
                    lines.append("    port \(port.number): \(error)")
                    continue
                case .success(let attributes):
                    lines.append("    port \(port.number): \(attributes.state), link layer \(attributes.linkLayer),"
                                 + " active MTU \(attributes.activeMTU) (max \(attributes.maxMTU)),"
                                 + " GID table \(attributes.gidTableLength) entries"
                                 + (attributes.linkLayer == .infiniBand ? ", LID \(attributes.lid)" : ""))
                }
                let chosen = port.roceV2IPv4GID?.index
                for entry in port.gids {
                    switch entry {
                    case .failure(let error):
                        lines.append("      GID: \(error)")
                    case .success(let gid) where gid.isZero:
                        lines.append("      GID[\(gid.index)] empty")
                    case .success(let gid):
                        var details = [gid.type?.description ?? "type unknown"]
                        if let netdev = gid.netdevName { details.append(netdev) }
                        var line = "      GID[\(gid.index)] \(gid) (\(details.joined(separator: ", ")))"
                        if gid.index == chosen { line += "  <- RoCE v2 IPv4: use this index" }
                        lines.append(line)
                    }
                }
            }
            return lines
        }

        /// "8 MiB", "64 KiB", "512 B"; 2^64-1 (what rxe reports as max_mr_size) is "no limit".
        static func bytes(_ count: UInt64) -> String {
            if count == .max { return "no limit" }
            if count >= 1 << 30 && count % (1 << 30) == 0 { return "\(count >> 30) GiB" }
            if count >= 1 << 20 && count % (1 << 20) == 0 { return "\(count >> 20) MiB" }
            if count >= 1 << 10 && count % (1 << 10) == 0 { return "\(count >> 10) KiB" }
            return "\(count) B"
        }
    }
}
