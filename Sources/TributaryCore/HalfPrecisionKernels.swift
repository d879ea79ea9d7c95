import CKernels
import Foundation

/// Which implementation runs the `f16`/`bf16` kernels of `Reduction.combine`.
///
/// Swift code compiled for the baseline x86-64 target cannot use F16C (binary16 ⇄ binary32 conversion) or AVX2,
/// so the portable kernels convert with branch-free bit arithmetic, and f16 was the slowest dtype by far. The
/// `hardware` kernels (C, `Sources/CKernels`, compiled for AVX2 + F16C only in the functions that need them) are
/// chosen at run time when the CPU has both; they give exactly the portable kernels' bits, NaNs included (see
/// `kernels.c` for why), and process whole blocks of 16 elements, leaving any tail to the portable kernels.
///
/// `TRIBUTARY_PORTABLE_KERNELS=1` in the environment forces the portable kernels (to compare the two paths, or
/// to rule the hardware path out); the tests call both paths explicitly.
enum HalfPrecisionKernels: Sendable, Equatable {
    /// The Swift kernels (`F16Lanes`, `BF16Lanes` in Reduction.swift): any CPU.
    case portable
    /// The C kernels on F16C + AVX2: only where `hardwareAvailable`.
    case hardware

    /// The CPU (and OS) support AVX2 and F16C. Always false off x86-64.
    static let hardwareAvailable: Bool = tributary_half_kernels_available() != 0

    /// What `Reduction.combine` uses: `hardware` when available, unless `TRIBUTARY_PORTABLE_KERNELS=1`.
    static let selected: HalfPrecisionKernels =
        hardwareAvailable && ProcessInfo.processInfo.environment["TRIBUTARY_PORTABLE_KERNELS"] != "1"
        ? .hardware : .portable

    /// Runs the hardware kernel over the largest multiple of 16 elements not above `count` and returns how many
    /// elements it processed. `dtype` is `f16` or `bf16`, `op` a float op. Traps if the CPU lacks the instructions.
    static func combineBlocks(
        _ op: ReduceOp, _ dtype: DType, into acc: UnsafeMutableRawPointer, from src: UnsafeRawPointer, count: Int
    ) -> Int {
        precondition(hardwareAvailable, "the hardware half-precision kernels need AVX2 and F16C")
        let code: Int32
        switch op {
        case .sum: code = Int32(TRIBUTARY_HALF_SUM)
        case .prod: code = Int32(TRIBUTARY_HALF_PROD)
        case .min: code = Int32(TRIBUTARY_HALF_MIN)
        case .max: code = Int32(TRIBUTARY_HALF_MAX)
        case .band, .bor, .bxor: preconditionFailure("\(op) is not defined for floating point")
        }
        let a = acc.assumingMemoryBound(to: UInt16.self)
        let s = src.assumingMemoryBound(to: UInt16.self)
        switch dtype {
        case .f16: return tributary_f16_combine(code, a, s, count)
        case .bf16: return tributary_bf16_combine(code, a, s, count)
        default: preconditionFailure("\(dtype) is not a 16-bit float format")
        }
    }
}
