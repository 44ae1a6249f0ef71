/*
 * The loops of softmax_sk._kernels: a vectorised exp, the softmax of the rows of
 * a logit block fused into one sweep per row, and the Hessian rows. Plain C, no
 * Python API: _kernels.pyx validates every argument and calls these without the
 * GIL.
 *
 * Why this exists: numpy's float64 exp has a SIMD loop only on AVX-512
 * machines; elsewhere it calls libm once per entry (about 6.5 ns here, an
 * AMD EPYC with AVX2), which made the exponentials alone half of a softmax
 * regression pass at 1000 classes (benchmarks/bench_eval.py). And numpy's
 * softmax of a block is five passes over it besides the exp (intercept, row
 * max, shift, row sums, scaling), each 0.3-0.5 ns per entry, which kept a
 * float32 evaluation at 1000 classes at 1.3-1.8x its two matrix products.
 *
 * exp: the loops below have no branches and no calls, so the compiler
 * vectorises them; with AVX2 the float64 exp takes about 2 ns per entry. It is
 * accurate to 1 ulp of the correctly rounded result in either precision
 * (tests/test_kernels.py compares them with float64 libm), and both keep exp's
 * special values: exp(-inf) = 0, exp(+inf) = inf, NaN stays NaN, gradual
 * underflow to subnormals and overflow to inf at the right thresholds.
 *
 * Method (the textbook one; see J.-M. Muller, "Elementary Functions"):
 *   x = k ln2 + r with k = round(x / ln2), |r| <= ln2 / 2, where ln2 is split
 *   into a head with trailing zero bits (so k * ln2_hi is exact) and a tail;
 *   exp(r) is its Taylor polynomial (degree 13 for float64, 7 for float32:
 *   truncation below 1e-17 and 6e-9 relative for |r| <= ln2 / 2), evaluated
 *   by Horner's rule; 2**k is built from its exponent bits, as 2**k1 * 2**k2
 *   with k1 + k2 = k, so that both factors are normal numbers even where
 *   2**k is not.
 * k is rounded with the 1.5 * 2**52 (2**23) "shifter": adding it leaves
 * round(y) in the low mantissa bits of y + shifter, so no float-to-integer
 * conversion (which AVX2 lacks for 64-bit integers) is needed.
 *
 * softmax_rows: per row, one sweep adds the intercepts and takes the maximum,
 * one takes exp(z - max) and its sum, one scales by weight / sum; a row of up
 * to a few thousand classes stays in the L1 cache between them. The row sums
 * and maxima are reductions, vectorised through "omp simd" (-fopenmp-simd:
 * the pragmas only, no OpenMP runtime); their order of summation differs from
 * numpy's by rounding.
 *
 * It must be compiled with -fno-trapping-math (setup.py): without it the
 * compiler keeps the clamps below as branches and does not vectorise.
 *
 * Why plain C and not Cython loops: gcc vectorises these loops with AVX2 + FMA
 * only through target_clones (one copy per instruction set, picked at load time)
 * and "omp simd" reductions, neither of which Cython can express; the same loops
 * written in Cython ran 1.7-4.2x slower (timings: _kernels.pyx).
 * Callers guarantee: C-contiguous arrays of the stated lengths, k >= 1, labels
 * in 0..k-1 (or -1 with reference).
 */
#ifndef SOFTMAX_SK_KERNELS_H
#define SOFTMAX_SK_KERNELS_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__)
/* One copy of the loop for AVX2 + FMA machines, one for the rest; the loader
 * picks one at start-up. */
#define SK_TARGETS __attribute__((target_clones("arch=x86-64-v3", "default")))
#else
#define SK_TARGETS
#endif

static inline double
from_bits(uint64_t bits)
{
    double value;
    memcpy(&value, &bits, sizeof value);
    return value;
}

static inline uint64_t
to_bits(double value)
{
    uint64_t bits;
    memcpy(&bits, &value, sizeof bits);
    return bits;
}

static inline float
f32_from_bits(uint32_t bits)
{
    float value;
    memcpy(&value, &bits, sizeof value);
    return value;
}

static inline uint32_t
f32_bits(float value)
{
    uint32_t bits;
    memcpy(&bits, &value, sizeof bits);
    return bits;
}

static inline double
exp_f64(double v)
{
    const double log2e = 1.4426950408889634;
    const double ln2_hi = 6.93147180369123816490e-01; /* ln 2, low 21 bits cleared */
    const double ln2_lo = 1.90821492927058770002e-10; /* ln 2 - ln2_hi */
    const double shifter = 6755399441055744.0;        /* 1.5 * 2**52 */
    const uint64_t shifter_bits = to_bits(shifter);
    /* exp underflows to 0 below -745.14 and overflows above 709.79: clamping
     * there keeps k in range. A NaN fails both tests and stays NaN. */
    v = v < -746.0 ? -746.0 : v;
    v = v > 710.0 ? 710.0 : v;
    double shifted = v * log2e + shifter;
    double k = shifted - shifter;
    double r = (v - k * ln2_hi) - k * ln2_lo;
    double p = 1.0 / 6227020800.0; /* 1/13! */
    p = p * r + 1.0 / 479001600.0;
    p = p * r + 1.0 / 39916800.0;
    p = p * r + 1.0 / 3628800.0;
    p = p * r + 1.0 / 362880.0;
    p = p * r + 1.0 / 40320.0;
    p = p * r + 1.0 / 5040.0;
    p = p * r + 1.0 / 720.0;
    p = p * r + 1.0 / 120.0;
    p = p * r + 1.0 / 24.0;
    p = p * r + 1.0 / 6.0;
    p = p * r + 0.5;
    p = p * r + 1.0;
    p = p * r + 1.0;
    /* k1 = round(k / 2), k2 = k - k1: both in [-538, 512], biased exponents of
     * normal numbers. */
    double half = k * 0.5 + shifter;
    double k2 = k - (half - shifter);
    uint64_t e1 = to_bits(half) - shifter_bits + 1023;
    uint64_t e2 = to_bits(k2 + shifter) - shifter_bits + 1023;
    return p * from_bits(e1 << 52) * from_bits(e2 << 52);
}

static inline float
exp_f32(float v)
{
    const float log2e = 1.44269504f;
    const float ln2_hi = 0.693145751953125f;     /* ln 2, low 9 bits cleared */
    const float ln2_lo = 1.428606765330187e-06f; /* ln 2 - ln2_hi */
    const float shifter = 12582912.0f;            /* 1.5 * 2**23 */
    const uint32_t shifter_bits = 0x4B400000u;
    /* expf underflows to 0 below -103.98 and overflows above 88.73. */
    v = v < -104.0f ? -104.0f : v;
    v = v > 89.0f ? 89.0f : v;
    float shifted = v * log2e + shifter;
    float k = shifted - shifter;
    float r = (v - k * ln2_hi) - k * ln2_lo;
    float p = 1.0f / 5040.0f; /* 1/7! */
    p = p * r + 1.0f / 720.0f;
    p = p * r + 1.0f / 120.0f;
    p = p * r + 1.0f / 24.0f;
    p = p * r + 1.0f / 6.0f;
    p = p * r + 0.5f;
    p = p * r + 1.0f;
    p = p * r + 1.0f;
    /* k1 = round(k / 2), k2 = k - k1: both in [-75, 65], normal exponents. */
    float half = k * 0.5f + shifter;
    float k2 = k - (half - shifter);
    uint32_t e1 = f32_bits(half) - shifter_bits + 127;
    uint32_t e2 = f32_bits(k2 + shifter) - shifter_bits + 127;
    return p * f32_from_bits(e1 << 23) * f32_from_bits(e2 << 23);
}

/* The exps alone, as the row kernel uses them: exposed so that their accuracy
 * can be tested on their own. */
SK_TARGETS
static void
sk_exp_f64_loop(double *x, ptrdiff_t n)
{
    for (ptrdiff_t i = 0; i < n; i++) {
        x[i] = exp_f64(x[i]);
    }
}

SK_TARGETS
static void
sk_exp_f32_loop(float *x, ptrdiff_t n)
{
    for (ptrdiff_t i = 0; i < n; i++) {
        x[i] = exp_f32(x[i]);
    }
}

/* z (n, k), C order, becomes scale_i * softmax(z_i + bias) row by row, with an
 * implicit class of logit 0 taking part in the normalisation when `reference`;
 * out_i receives the row's log-sum-exp (over that class too). bias and scale
 * may be NULL. With labels (the observed class's column per row, -1 for the
 * reference class) the same sweep ends the cross-entropy: scale_i is taken
 * off the observed entry, so z_i becomes the gradient in the logits, and out_i
 * is the cross-entropy log(sum) - (z_iy - max), from the shifted logits. */
#define SOFTMAX_ROWS(NAME, T, EXP, LOG)                                                    \
    SK_TARGETS                                                                             \
    static void NAME(T *z, ptrdiff_t n, ptrdiff_t k, const T *bias, const T *scale,        \
                     const ptrdiff_t *labels, T *out, int reference)                       \
    {                                                                                      \
        for (ptrdiff_t i = 0; i < n; i++) {                                                \
            T *row = z + i * k;                                                            \
            T m = reference ? (T)0 : -(T)INFINITY;                                         \
            if (bias != NULL) {                                                            \
                _Pragma("omp simd reduction(max : m)")                                     \
                for (ptrdiff_t j = 0; j < k; j++) {                                        \
                    row[j] += bias[j];                                                     \
                    m = row[j] > m ? row[j] : m;                                           \
                }                                                                          \
            }                                                                              \
            else {                                                                         \
                _Pragma("omp simd reduction(max : m)")                                     \
                for (ptrdiff_t j = 0; j < k; j++) {                                        \
                    m = row[j] > m ? row[j] : m;                                           \
                }                                                                          \
            }                                                                              \
            /* The observed logit, shifted like the row (the reference class: 0). */       \
            T observed = (T)0;                                                             \
            if (labels != NULL) {                                                          \
                observed = (labels[i] < 0 ? (T)0 : row[labels[i]]) - m;                    \
            }                                                                              \
            T sum = reference ? EXP(-m) : (T)0;                                            \
            _Pragma("omp simd reduction(+ : sum)")                                         \
            for (ptrdiff_t j = 0; j < k; j++) {                                            \
                T e = EXP(row[j] - m);                                                     \
                row[j] = e;                                                                \
                sum += e;                                                                  \
            }                                                                              \
            T weight = scale != NULL ? scale[i] : (T)1;                                    \
            T factor = weight / sum;                                                       \
            for (ptrdiff_t j = 0; j < k; j++) {                                            \
                row[j] *= factor;                                                          \
            }                                                                              \
            if (labels == NULL) {                                                          \
                out[i] = LOG(sum) + m;                                                     \
            }                                                                              \
            else {                                                                         \
                out[i] = LOG(sum) - observed;                                              \
                if (labels[i] >= 0) {                                                      \
                    row[labels[i]] -= weight;                                              \
                }                                                                          \
            }                                                                              \
        }                                                                                  \
    }

/* The same for narrow rows, a tile of rows at a time: maxima and sums are
 * taken column by column (independent rows, no chain of dependent additions)
 * and the exps run as one flat loop over the tile, which vectorises whatever
 * k is. Per-row sweeps over 10 entries spend their time in loop overheads and
 * dependency chains: timed alone on blocks of 256 KiB, the row kernel took
 * 8.8 (float64) and 7.4 (float32) ns per entry at k=10, the tiles 4.3 and 2.5;
 * at k=50 2.9/1.6 against 3.9/2.2; from k=100 on the row kernel is as fast or
 * faster (k=1000: 2.6/1.0 against 8.1/6.4). Rows of at most SK_NARROW entries go
 * to the tiles. */
#define SK_TILE 1024
#define SK_NARROW 64
#define SOFTMAX_TILES(NAME, T, EXP, LOG)                                                   \
    SK_TARGETS                                                                             \
    static void NAME(T *z, ptrdiff_t n, ptrdiff_t k, const T *bias, const T *scale,        \
                     const ptrdiff_t *labels, T *out, int reference)                       \
    {                                                                                      \
        T maxima[SK_TILE], sums[SK_TILE], observed[SK_TILE];                               \
        ptrdiff_t rows = k < SK_TILE ? SK_TILE / k : 1;                                    \
        for (ptrdiff_t i0 = 0; i0 < n; i0 += rows) {                                       \
            ptrdiff_t r = n - i0 < rows ? n - i0 : rows;                                   \
            T *tile = z + i0 * k;                                                          \
            if (bias != NULL) {                                                            \
                for (ptrdiff_t i = 0; i < r; i++) {                                        \
                    for (ptrdiff_t j = 0; j < k; j++) {                                    \
                        tile[i * k + j] += bias[j];                                        \
                    }                                                                      \
                }                                                                          \
            }                                                                              \
            /* Column by column: independent rows, no dependency chains. */                \
            for (ptrdiff_t i = 0; i < r; i++) {                                            \
                maxima[i] = reference ? (T)0 : tile[i * k];                                \
            }                                                                              \
            for (ptrdiff_t j = 0; j < k; j++) {                                            \
                for (ptrdiff_t i = 0; i < r; i++) {                                        \
                    T v = tile[i * k + j];                                                 \
                    maxima[i] = v > maxima[i] ? v : maxima[i];                             \
                }                                                                          \
            }                                                                              \
            if (labels != NULL) {                                                          \
                const ptrdiff_t *label = labels + i0;                                      \
                for (ptrdiff_t i = 0; i < r; i++) {                                        \
                    T v = label[i] < 0 ? (T)0 : tile[i * k + label[i]];                    \
                    observed[i] = v - maxima[i];                                           \
                }                                                                          \
            }                                                                              \
            for (ptrdiff_t i = 0; i < r; i++) {                                            \
                for (ptrdiff_t j = 0; j < k; j++) {                                        \
                    tile[i * k + j] -= maxima[i];                                          \
                }                                                                          \
            }                                                                              \
            for (ptrdiff_t e = 0; e < r * k; e++) {                                        \
                tile[e] = EXP(tile[e]);                                                    \
            }                                                                              \
            for (ptrdiff_t i = 0; i < r; i++) {                                            \
                sums[i] = reference ? EXP(-maxima[i]) : (T)0;                              \
            }                                                                              \
            for (ptrdiff_t j = 0; j < k; j++) {                                            \
                for (ptrdiff_t i = 0; i < r; i++) {                                        \
                    sums[i] += tile[i * k + j];                                            \
                }                                                                          \
            }                                                                              \
            for (ptrdiff_t i = 0; i < r; i++) {                                            \
                T factor = (scale != NULL ? scale[i0 + i] : (T)1) / sums[i];               \
                for (ptrdiff_t j = 0; j < k; j++) {                                        \
                    tile[i * k + j] *= factor;                                             \
                }                                                                          \
            }                                                                              \
            if (labels == NULL) {                                                          \
                for (ptrdiff_t i = 0; i < r; i++) {                                        \
                    out[i0 + i] = LOG(sums[i]) + maxima[i];                                \
                }                                                                          \
            }                                                                              \
            else {                                                                         \
                const ptrdiff_t *label = labels + i0;                                      \
                for (ptrdiff_t i = 0; i < r; i++) {                                        \
                    out[i0 + i] = LOG(sums[i]) - observed[i];                              \
                    if (label[i] >= 0) {                                                   \
                        tile[i * k + label[i]] -= scale != NULL ? scale[i0 + i] : (T)1;    \
                    }                                                                      \
                }                                                                          \
            }                                                                              \
        }                                                                                  \
    }

SOFTMAX_TILES(sk_softmax_tiles_f64, double, exp_f64, log)
SOFTMAX_TILES(sk_softmax_tiles_f32, float, exp_f32, logf)

SOFTMAX_ROWS(sk_softmax_rows_f64, double, exp_f64, log)
SOFTMAX_ROWS(sk_softmax_rows_f32, float, exp_f32, logf)

/* The Hessian of the cross-entropy in the logits applied to a direction, row by
 * row: with q_i = s_i p_i (the weighted probabilities) and r_i = x_i V + b,
 * r_i becomes q_i * (r_i - <q_i, r_i> / s_i), i.e. s_i (diag(p_i) - p_i p_i^T) r_i.
 * One sweep for the intercept and the row's dot product, one for the rest,
 * where numpy took five passes over the block, each dominated by per-call and
 * broadcasting overhead on short rows (1437 x 10: about 60 us against 5-10 for
 * the sweeps). */
#define HESSIAN_ROWS(NAME, T)                                                              \
    SK_TARGETS                                                                             \
    static void NAME(T *r, const T *q, ptrdiff_t n, ptrdiff_t k, const T *bias,            \
                     const T *inv_scale)                                                   \
    {                                                                                      \
        for (ptrdiff_t i = 0; i < n; i++) {                                                \
            T *row = r + i * k;                                                            \
            const T *qrow = q + i * k;                                                     \
            T dot = (T)0;                                                                  \
            if (bias != NULL) {                                                            \
                _Pragma("omp simd reduction(+ : dot)")                                     \
                for (ptrdiff_t j = 0; j < k; j++) {                                        \
                    row[j] += bias[j];                                                     \
                    dot += qrow[j] * row[j];                                               \
                }                                                                          \
            }                                                                              \
            else {                                                                         \
                _Pragma("omp simd reduction(+ : dot)")                                     \
                for (ptrdiff_t j = 0; j < k; j++) {                                        \
                    dot += qrow[j] * row[j];                                               \
                }                                                                          \
            }                                                                              \
            T t = dot * inv_scale[i];                                                      \
            _Pragma("omp simd")                                                            \
            for (ptrdiff_t j = 0; j < k; j++) {                                            \
                row[j] = qrow[j] * (row[j] - t);                                           \
            }                                                                              \
        }                                                                                  \
    }

HESSIAN_ROWS(sk_hessian_rows_f64, double)
HESSIAN_ROWS(sk_hessian_rows_f32, float)

#endif /* SOFTMAX_SK_KERNELS_H */
