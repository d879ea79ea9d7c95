// Half-precision kernels on F16C + AVX2. The semantics are docs/REDUCTION.md's; every function here must give
// the bits of the portable Swift kernels (Sources/TributaryCore/Reduction.swift), which the tests check for every
// special value and over random sweeps on both paths.
//
// Why these instructions give the same bits:
// - f16 sum/prod: VCVTPH2PS widens exactly (subnormals included, whatever MXCSR.DAZ says), the operation is done
//   in binary32 exactly as the Swift kernel does, and VCVTPS2PH with an explicit round-to-nearest-even immediate
//   rounds once, correctly, to binary16 (subnormal results included; MXCSR.FTZ is not consulted). That is the
//   same function of the binary32 result as the Swift `F16Lanes.narrow`, for every non-NaN value.
// - bf16 sum/prod: widening is a shift (exact) and rounding the same integer trick as `BF16Lanes.narrow` (add
//   0x7FFF plus the lowest kept bit, keep the top half), so only the arithmetic runs on 256-bit registers.
// - min/max never re-round: they select an operand's bit pattern. Mapping a sign-magnitude 16-bit pattern x to
//   x ^ ((x >> 15) & 0x7FFF) (arithmetic shift) gives a signed integer whose order is the float order with
//   -0 < +0, which is exactly IEEE 754-2019 minimum/maximum on non-NaN values (min(-0, +0) = -0, max = +0).
// - NaN: the hardware's NaN results (which operand wins, default NaN 0xFE00/negative on x86) are not the
//   contract, so any block where a NaN appears is patched lane-wise from the operands' bit patterns: acc's NaN
//   quieted, else src's NaN quieted, else (invalid operation) the canonical NaN. A binary32 NaN always converts
//   to a binary16 NaN and a non-NaN never does, so for f16 the NaN lanes can be found in the converted result;
//   for bf16 the rounding trick can carry a NaN's payload into the sign, so they are found before rounding.

#include "CKernels.h"

#if defined(__x86_64__)

#include <immintrin.h>

int tributary_half_kernels_available(void) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("f16c");
}

#define KERNEL __attribute__((target("avx2,f16c"), always_inline)) static inline

/// Lanes where a 16-bit pattern is a NaN: magnitude above the infinity pattern `inf`.
KERNEL __m256i nan_lanes(__m256i x, short inf) {
    return _mm256_cmpgt_epi16(_mm256_and_si256(x, _mm256_set1_epi16(0x7FFF)), _mm256_set1_epi16(inf));
}

/// The NaN rules, applied to the lanes of `r` flagged in `result_nan` (every lane whose result is NaN).
KERNEL __m256i patch_nans(__m256i r, __m256i result_nan, __m256i a, __m256i s, short inf, short quiet,
                          short canonical) {
    __m256i q = _mm256_set1_epi16(quiet);
    r = _mm256_blendv_epi8(r, _mm256_set1_epi16(canonical), result_nan);
    r = _mm256_blendv_epi8(r, _mm256_or_si256(s, q), nan_lanes(s, inf));
    return _mm256_blendv_epi8(r, _mm256_or_si256(a, q), nan_lanes(a, inf));
}

KERNEL __m256 arith(int op, __m256 a, __m256 s) {
    return op == TRIBUTARY_HALF_SUM ? _mm256_add_ps(a, s) : _mm256_mul_ps(a, s);
}

/// IEEE 754-2019 minimum (`is_min`) or maximum of 16 lanes of a sign-magnitude 16-bit format whose infinity is
/// `inf`, selecting operand bit patterns.
KERNEL __m256i min_max(int is_min, __m256i a, __m256i s, short inf, short quiet) {
    __m256i magnitude = _mm256_set1_epi16(0x7FFF);
    __m256i ka = _mm256_xor_si256(a, _mm256_and_si256(_mm256_srai_epi16(a, 15), magnitude));
    __m256i ks = _mm256_xor_si256(s, _mm256_and_si256(_mm256_srai_epi16(s, 15), magnitude));
    __m256i take_a = is_min ? _mm256_cmpgt_epi16(ks, ka) : _mm256_cmpgt_epi16(ka, ks);
    __m256i r = _mm256_blendv_epi8(s, a, take_a);
    __m256i a_nan = nan_lanes(a, inf), s_nan = nan_lanes(s, inf);
    if (!_mm256_testz_si256(_mm256_or_si256(a_nan, s_nan), _mm256_or_si256(a_nan, s_nan))) {
        __m256i q = _mm256_set1_epi16(quiet);
        r = _mm256_blendv_epi8(r, _mm256_or_si256(s, q), s_nan);
        r = _mm256_blendv_epi8(r, _mm256_or_si256(a, q), a_nan);
    }
    return r;
}

KERNEL __m256i f16_arith(int op, __m256i a, __m256i s) {
    __m256 rlo = arith(op, _mm256_cvtph_ps(_mm256_castsi256_si128(a)), _mm256_cvtph_ps(_mm256_castsi256_si128(s)));
    __m256 rhi = arith(op, _mm256_cvtph_ps(_mm256_extracti128_si256(a, 1)),
                       _mm256_cvtph_ps(_mm256_extracti128_si256(s, 1)));
    __m256i r = _mm256_set_m128i(_mm256_cvtps_ph(rhi, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC),
                                 _mm256_cvtps_ph(rlo, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
    __m256i result_nan = nan_lanes(r, 0x7C00);
    if (!_mm256_testz_si256(result_nan, result_nan)) {
        r = patch_nans(r, result_nan, a, s, 0x7C00, 0x0200, 0x7E00);
    }
    return r;
}

/// `BF16Lanes.narrow`: round to nearest even by adding 0x7FFF plus the lowest kept bit.
KERNEL __m256i bf16_round(__m256 x) {
    __m256i bits = _mm256_castps_si256(x);
    __m256i lsb = _mm256_and_si256(_mm256_srli_epi32(bits, 16), _mm256_set1_epi32(1));
    return _mm256_add_epi32(bits, _mm256_add_epi32(lsb, _mm256_set1_epi32(0x7FFF)));
}

KERNEL __m256i bf16_arith(int op, __m256i a, __m256i s) {
    __m256i high = _mm256_set1_epi32((int)0xFFFF0000u);
    // The element in the low half of each 32-bit word (even index, little-endian), then the one in the high half.
    __m256 rlo = arith(op, _mm256_castsi256_ps(_mm256_slli_epi32(a, 16)),
                       _mm256_castsi256_ps(_mm256_slli_epi32(s, 16)));
    __m256 rhi = arith(op, _mm256_castsi256_ps(_mm256_and_si256(a, high)),
                       _mm256_castsi256_ps(_mm256_and_si256(s, high)));
    __m256i r = _mm256_or_si256(_mm256_srli_epi32(bf16_round(rlo), 16), _mm256_and_si256(bf16_round(rhi), high));
    __m256i nan_lo = _mm256_castps_si256(_mm256_cmp_ps(rlo, rlo, _CMP_UNORD_Q));
    __m256i nan_hi = _mm256_castps_si256(_mm256_cmp_ps(rhi, rhi, _CMP_UNORD_Q));
    __m256i result_nan = _mm256_blend_epi16(nan_lo, nan_hi, 0xAA);
    if (!_mm256_testz_si256(result_nan, result_nan)) {
        r = patch_nans(r, result_nan, a, s, 0x7F80, 0x0040, 0x7FC0);
    }
    return r;
}

/// One loop per (format, op), with the op a compile-time constant after inlining. All loads of a block come
/// before its store, so `acc == src` is fine.
#define LOOP(body)                                                                          \
    size_t n = count & ~(size_t)15;                                                         \
    for (size_t i = 0; i < n; i += 16) {                                                    \
        __m256i a = _mm256_loadu_si256((const __m256i *)(acc + i));                         \
        __m256i s = _mm256_loadu_si256((const __m256i *)(src + i));                         \
        _mm256_storeu_si256((__m256i *)(acc + i), body);                                    \
    }                                                                                       \
    return n;

#define FORMAT_FUNCTIONS(name, inf, quiet)                                                                      \
    __attribute__((target("avx2,f16c"))) static size_t name##_sum(uint16_t *acc, const uint16_t *src,          \
                                                                  size_t count) {                              \
        LOOP(name##_arith(TRIBUTARY_HALF_SUM, a, s))                                                            \
    }                                                                                                           \
    __attribute__((target("avx2,f16c"))) static size_t name##_prod(uint16_t *acc, const uint16_t *src,         \
                                                                   size_t count) {                             \
        LOOP(name##_arith(TRIBUTARY_HALF_PROD, a, s))                                                           \
    }                                                                                                           \
    __attribute__((target("avx2,f16c"))) static size_t name##_min(uint16_t *acc, const uint16_t *src,          \
                                                                  size_t count) {                              \
        LOOP(min_max(1, a, s, inf, quiet))                                                                      \
    }                                                                                                           \
    __attribute__((target("avx2,f16c"))) static size_t name##_max(uint16_t *acc, const uint16_t *src,          \
                                                                  size_t count) {                              \
        LOOP(min_max(0, a, s, inf, quiet))                                                                      \
    }                                                                                                           \
    size_t tributary_##name##_combine(int op, uint16_t *acc, const uint16_t *src, size_t count) {               \
        switch (op) {                                                                                           \
        case TRIBUTARY_HALF_SUM: return name##_sum(acc, src, count);                                            \
        case TRIBUTARY_HALF_PROD: return name##_prod(acc, src, count);                                          \
        case TRIBUTARY_HALF_MIN: return name##_min(acc, src, count);                                            \
        case TRIBUTARY_HALF_MAX: return name##_max(acc, src, count);                                            \
        default: return 0;                                                                                      \
        }                                                                                                       \
    }

FORMAT_FUNCTIONS(f16, 0x7C00, 0x0200)
FORMAT_FUNCTIONS(bf16, 0x7F80, 0x0040)

#else

int tributary_half_kernels_available(void) { return 0; }

size_t tributary_f16_combine(int op, uint16_t *acc, const uint16_t *src, size_t count) {
    (void)op, (void)acc, (void)src, (void)count;
    return 0;
}

size_t tributary_bf16_combine(int op, uint16_t *acc, const uint16_t *src, size_t count) {
    (void)op, (void)acc, (void)src, (void)count;
    return 0;
}

#endif
