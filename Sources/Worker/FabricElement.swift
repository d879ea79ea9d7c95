import TributaryCore

/// Swift element types that map to a fabric dtype, for the typed `Communicator` calls.
public protocol FabricElement: Sendable {
    static var dtype: DType { get }
}

extension Float: FabricElement { public static var dtype: DType { .f32 } }
extension Double: FabricElement { public static var dtype: DType { .f64 } }
extension Float16: FabricElement { public static var dtype: DType { .f16 } }
extension BFloat16: FabricElement { public static var dtype: DType { .bf16 } }
extension Int32: FabricElement { public static var dtype: DType { .i32 } }
extension Int64: FabricElement { public static var dtype: DType { .i64 } }
extension UInt32: FabricElement { public static var dtype: DType { .u32 } }
extension UInt64: FabricElement { public static var dtype: DType { .u64 } }
extension Int8: FabricElement { public static var dtype: DType { .i8 } }
extension UInt8: FabricElement { public static var dtype: DType { .u8 } }
