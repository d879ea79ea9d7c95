import CVerbs

/// The RDMA devices libibverbs can see, from `ibv_get_device_list`.
///
/// On a kernel without RDMA (`CONFIG_INFINIBAND` unset) creating one throws `.getDeviceList(errno:
/// ENOSYS)`; with RDMA but no device (no HCA, no `rdma link add … type rxe`) it is empty.
/// The C array is freed with `ibv_free_device_list` once this list and every `Device` (and so every
/// `Context`) taken from it are gone. `@unchecked Sendable`: immutable after creation, and libibverbs
/// is thread-safe.
public final class DeviceList: RandomAccessCollection, @unchecked Sendable {
    /// The devices, in libibverbs' order.
    public let devices: [Device]

    public init() throws(VerbsError) {
        var count: Int32 = 0
        let list = try checkNonNull(ibv_get_device_list(&count), VerbsError.getDeviceList)
        let storage = DeviceListStorage(raw: list)
        devices = (0..<Int(count)).compactMap { index in list[index].map { Device(raw: $0, list: storage) } }
    }

    public var startIndex: Int { devices.startIndex }
    public var endIndex: Int { devices.endIndex }
    public subscript(position: Int) -> Device { devices[position] }

    /// The device called `name` (e.g. "rxe0", "mlx5_0"), or nil.
    public func device(named name: String) -> Device? {
        devices.first { $0.name == name }
    }
}

/// Owns the C array behind a `DeviceList`; each `Device` holds it, because its pointer lives in it.
final class DeviceListStorage: @unchecked Sendable {
    let raw: UnsafeMutablePointer<UnsafeMutablePointer<ibv_device>?>

    init(raw: UnsafeMutablePointer<UnsafeMutablePointer<ibv_device>?>) {
        self.raw = raw
    }

    deinit {
        ibv_free_device_list(raw)
    }
}
