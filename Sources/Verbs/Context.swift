#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import CVerbs

/// An open RDMA device (`ibv_context`): the parent of every protection domain, completion channel and
/// completion queue made on it, and the place to ask what the device and its ports can do.
///
/// Either opened here with `ibv_open_device` (and closed with `ibv_close_device` when the last child
/// is gone), or borrowed from an rdma_cm id (`CMID.context`), in which case librdmacm owns the device
/// context and this object only keeps the id alive. `@unchecked Sendable`: immutable, and libibverbs
/// calls are thread-safe.
public final class Context: @unchecked Sendable {
    let raw: UnsafeMutablePointer<ibv_context>
    private let owner: Owner

    private enum Owner {
        /// Opened by us: close in deinit; the device (and its list) must outlive the context.
        case opened(Device)
        /// librdmacm's context for a CM id: never closed here; the id is kept alive.
        case borrowed(AnyObject)
    }

    /// The device's name ("rxe0").
    public let deviceName: String

    /// Opens `device` (`ibv_open_device`).
    public init(device: Device) throws(VerbsError) {
        raw = try checkNonNull(ibv_open_device(device.raw)) { .openDevice(name: device.name, errno: $0) }
        owner = .opened(device)
        deviceName = device.name
    }

    init(borrowing raw: UnsafeMutablePointer<ibv_context>, keeping keeper: AnyObject) {
        self.raw = raw
        owner = .borrowed(keeper)
        deviceName = ibv_get_device_name(raw.pointee.device).map { String(cString: $0) } ?? "?"
    }

    deinit {
        if case .opened = owner {
            ibv_close_device(raw)
        }
    }

    /// The device's limits (`ibv_query_device`).
    public func queryDevice() throws(VerbsError) -> DeviceAttributes {
        var attributes = ibv_device_attr()
        try check(ibv_query_device(raw, &attributes), VerbsError.queryDevice)
        return DeviceAttributes(attributes)
    }

    /// The state of port `port` (1-based, as in `ibv_devinfo`) (`ibv_query_port`).
    public func queryPort(_ port: UInt8) throws(VerbsError) -> PortAttributes {
        var attributes = ibv_port_attr()
        // `ibv_query_port` is a macro over this inline function in verbs.h.
        try check(___ibv_query_port(raw, port, &attributes)) { .queryPort(port: port, errno: $0) }
        return PortAttributes(attributes)
    }

    /// Entry `index` of port `port`'s GID table (`ibv_query_gid_ex`), with its type (IB, RoCE v1 or v2)
    /// and the netdev it comes from. An empty entry comes back as the all-zero GID with no type.
    ///
    /// Read only the first few entries: under emulation every read is slow, and the table has 1024.
    public func gid(port: UInt8, index: Int) throws(VerbsError) -> GID {
        var entry = ibv_gid_entry()
        let result = ibv_query_gid_ex(raw, UInt32(port), UInt32(index), &entry, 0)
        if result == ENODATA || (result == -1 && errno == ENODATA) {
            return GID(bytes: [UInt8](repeating: 0, count: 16), index: index, type: nil, netdevIndex: nil)
        }
        try check(result) { .queryGID(port: port, index: index, errno: $0) }
        return GID(entry)
    }

    /// A protection domain on this device (`ibv_alloc_pd`).
    public func allocateProtectionDomain() throws(VerbsError) -> ProtectionDomain {
        try ProtectionDomain(context: self)
    }
}
