#ifndef TRIBUTARY_CKERNELS_H
#define TRIBUTARY_CKERNELS_H

#include <stddef.h>
#include <stdint.h>

/// Half-precision reduction kernels using the CPU's conversion instructions (x86-64 F16C + AVX2), for
/// `Reduction.combine` in TributaryCore. They compute exactly the bits of the portable Swift kernels and of
/// `Reduction.combineReference` (docs/REDUCTION.md); the Swift side chooses them only when
/// `tributary_half_kernels_available()` says the CPU has the instructions.

/// The operations, numbered for the C boundary (Swift maps `ReduceOp` onto them).
enum {
    TRIBUTARY_HALF_SUM = 0,
    TRIBUTARY_HALF_PROD = 1,
    TRIBUTARY_HALF_MIN = 2,
    TRIBUTARY_HALF_MAX = 3,
};

/// Non-zero when the CPU (and OS) support AVX2 and F16C, so the functions below may be called. Always 0 on
/// other architectures.
int tributary_half_kernels_available(void);

/// `acc[i] = acc[i] op src[i]` on binary16 elements, for the largest multiple of 16 elements not above `count`;
/// returns how many elements it processed (the caller does the rest). `acc` may equal `src`; neither needs more
/// than 2-byte alignment. Only call when `tributary_half_kernels_available()`.
size_t tributary_f16_combine(int op, uint16_t *acc, const uint16_t *src, size_t count);

/// The same for bfloat16 elements.
size_t tributary_bf16_combine(int op, uint16_t *acc, const uint16_t *src, size_t count);

#endif
