#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A preflight for RDMA on this host, like `ibv_devinfo` plus the usual pitfalls: which devices and
/// ports exist and whether they are ACTIVE, the link layer and MTU, which GID index carries a RoCE v2
/// IPv4 address (the one rdma_cm and hand-connected QPs use), the device limits, RLIMIT_MEMLOCK, and
/// the /dev/infiniband files the verbs need.
///
/// `tributary doctor` prints `check().render()`; `--transport auto` uses `check().usable` and prints
/// `reason` when it falls back to TCP. Gathering (`observe()`) and judging (`Report(_:)`) are apart,
/// so the judgement is tested with made-up hosts.
public struct RDMAReadiness: Sendable {
    /// How many GID table entries are read per port: the address entries come first, and reading the
    /// whole table (1024 entries on rxe) takes tens of seconds under emulation.
    public static let gidEntriesRead = 4

    /// Below this RLIMIT_MEMLOCK (without CAP_IPC_LOCK) registering a slot pool is likely to fail.
    public static let lowMemlockBytes: UInt64 = 64 << 20

    /// Looks at this host and judges it.
    public static func check() -> Report {
        Report(observe())
    }

    /// Everything the preflight looks at, without judgement.
    public struct Observation: Sendable {
        /// What `ibv_get_device_list` said.
        public enum Listing: Sendable {
            case failed(VerbsError)
            case found([DeviceObservation])
        }

        public var listing: Listing
        /// Names in /dev/infiniband (uverbs0, rdma_cm, …); empty when the directory is missing.
        public var deviceFiles: [String]
        /// RLIMIT_MEMLOCK soft and hard limits in bytes; nil means unlimited.
        public var memlockSoft: UInt64?
        public var memlockHard: UInt64?
        /// Whether the process has CAP_IPC_LOCK (exempt from the limit); nil if unknown.
        public var canLockUnlimited: Bool?

        public init(listing: Listing, deviceFiles: [String], memlockSoft: UInt64?, memlockHard: UInt64?,
                    canLockUnlimited: Bool?) {
            self.listing = listing
            self.deviceFiles = deviceFiles
            self.memlockSoft = memlockSoft
            self.memlockHard = memlockHard
            self.canLockUnlimited = canLockUnlimited
        }
    }

    /// One device: its limits (or why they could not be read) and its ports.
    public struct DeviceObservation: Sendable {
        public var name: String
        public var guid: String
        /// `ibv_query_device`, or the error from opening or querying the device.
        public var attributes: Result<DeviceAttributes, VerbsError>
        public var ports: [PortObservation]

        public init(name: String, guid: String, attributes: Result<DeviceAttributes, VerbsError>,
                    ports: [PortObservation]) {
            self.name = name
            self.guid = guid
            self.attributes = attributes
            self.ports = ports
        }
    }

    /// One port: its state and the first GID table entries.
    public struct PortObservation: Sendable {
        public var number: UInt8
        public var attributes: Result<PortAttributes, VerbsError>
        /// The first `gidEntriesRead` entries (fewer if the table is shorter), each read or failed.
        public var gids: [Result<GID, VerbsError>]

        public init(number: UInt8, attributes: Result<PortAttributes, VerbsError>, gids: [Result<GID, VerbsError>]) {
            self.number = number
            self.attributes = attributes
            self.gids = gids
        }

        /// The first RoCE v2 entry holding an IPv4 address: the GID index to use.
        public var roceV2IPv4GID: GID? {
            gids.lazy.compactMap { try? $0.get() }.first { $0.isIPv4MappedRoCEv2 }
        }
    }

    /// Gathers the observation: device list, each device's limits, each port's state and first GIDs,
    /// /dev/infiniband and RLIMIT_MEMLOCK. Never throws: failures are part of what is observed.
    public static func observe() -> Observation {
        let listing: Observation.Listing
        do {
            let list = try DeviceList()
            listing = .found(list.devices.map(observe(device:)))
        } catch {
            listing = .failed(error)
        }
        let memlock = memlockLimits()
        return Observation(listing: listing, deviceFiles: directoryEntries("/dev/infiniband"),
                           memlockSoft: memlock.soft, memlockHard: memlock.hard,
                           canLockUnlimited: hasCapability(14))  // CAP_IPC_LOCK
    }

    static func observe(device: Device) -> DeviceObservation {
        let context: Context
        do {
            context = try device.open()
        } catch {
            return DeviceObservation(name: device.name, guid: device.guidText, attributes: .failure(error), ports: [])
        }
        let attributes = Result { () throws(VerbsError) in try context.queryDevice() }
        let portCount = (try? attributes.get().physPortCount) ?? 0
        let ports = (0..<portCount).map { offset -> PortObservation in
            let number = UInt8(offset + 1)
            let port = Result { () throws(VerbsError) in try context.queryPort(number) }
            let entries = min(gidEntriesRead, (try? port.get().gidTableLength) ?? 0)
            let gids = (0..<entries).map { index in
                Result { () throws(VerbsError) in try context.gid(port: number, index: index) }
            }
            return PortObservation(number: number, attributes: port, gids: gids)
        }
        return DeviceObservation(name: device.name, guid: device.guidText, attributes: attributes, ports: ports)
    }

    private static func memlockLimits() -> (soft: UInt64?, hard: UInt64?) {
        var limit = rlimit()
        #if canImport(Glibc)
        let result = getrlimit(__rlimit_resource_t(__RLIMIT_MEMLOCK.rawValue), &limit)
        #else
        let result = getrlimit(RLIMIT_MEMLOCK, &limit)
        #endif
        guard result == 0 else { return (nil, nil) }
        func bytes(_ value: rlim_t) -> UInt64? { value == rlim_t.max ? nil : UInt64(value) }
        return (bytes(limit.rlim_cur), bytes(limit.rlim_max))
    }

    private static func directoryEntries(_ path: String) -> [String] {
        guard let directory = opendir(path) else { return [] }
        defer { closedir(directory) }
        var names: [String] = []
        while let entry = readdir(directory) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { bytes in
                String(decoding: bytes.prefix { $0 != 0 }, as: UTF8.self)
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names.sorted()
    }

    /// Whether capability `bit` is in this process's effective set (`CapEff` in /proc/self/status).
    private static func hasCapability(_ bit: Int) -> Bool? {
        guard let file = fopen("/proc/self/status", "r") else { return nil }
        defer { fclose(file) }
        var line: UnsafeMutablePointer<CChar>?
        var capacity = 0
        defer { free(line) }
        while getline(&line, &capacity, file) > 0, let line {
            let text = String(cString: line)
            guard text.hasPrefix("CapEff:") else { continue }
            let hex = text.dropFirst("CapEff:".count).filter { $0.isHexDigit }
            guard let mask = UInt64(hex, radix: 16) else { return nil }
            return mask & (1 << UInt64(bit)) != 0
        }
        return nil
    }
}

extension RDMAReadiness {
    /// The device and port that serve `host` (an IPv4 address of this host) for rdma_cm, found the
    /// way rdma_cm finds them: a CM id bound to the address lands on the device whose netdev carries
    /// it. A data-plane address must be such an address (soft-RoCE serves no loopback), so
    /// `--transport auto` asks this for the addresses it will listen on, not only whether some
    /// device is ACTIVE. Fails naming the address and the C call.
    public static func device(serving host: String) -> Result<String, VerbsError> {
        guard let address = CMAddress(host: host, port: 0), address.isIPv4 else {
            return .failure(.noDevice("\(host) is not a numeric IPv4 address"))
        }
        return Result { () throws(VerbsError) -> String in
            let channel = try EventChannel()
            let id = try CMID(channel: channel)
            try id.bind(address)
            guard let context = id.context else {
                throw .noDevice("\(host) is not an address of an RDMA device (rdma_bind_addr bound no device)")
            }
            return "\(context.deviceName) port \(id.portNumber)"
        }
    }
}
