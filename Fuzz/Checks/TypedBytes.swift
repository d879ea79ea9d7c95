import Foundation
import TributaryCore

/// `withUnsafeBytes` keeping the closure's typed error (the standard library's rethrows `any Error`),
/// so a check can tell a `WireError` from anything else without a cast that could hide one.
func withBytes<C: ContiguousBytes, R>(_ bytes: C, _ body: (UnsafeRawBufferPointer) throws(WireError) -> R)
    throws(WireError) -> R {
    let result: Result<R, WireError> = bytes.withUnsafeBytes { raw in
        do throws(WireError) { return .success(try body(raw)) } catch { return .failure(error) }
    }
    return try result.get()
}
