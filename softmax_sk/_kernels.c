/*
 * Compiled element-wise kernels for softmax_sk: a vectorised exp, and the
 * softmax of the rows of a logit block fused into one sweep per row.
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
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__)
/* One copy of the loop for AVX2 + FMA machines, one for the rest; the loader
 * picks one at start-up. */
#define TARGETS __attribute__((target_clones("arch=x86-64-v3", "default")))
#else
#define TARGETS
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
TARGETS
static void
exp_loop_f64(double *x, Py_ssize_t n)
{
    for (Py_ssize_t i = 0; i < n; i++) {
        x[i] = exp_f64(x[i]);
    }
}

TARGETS
static void
exp_loop_f32(float *x, Py_ssize_t n)
{
    for (Py_ssize_t i = 0; i < n; i++) {
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
#define SOFTMAX_ROWS(NAME, T, EXP, LOG)                                                   \
    TARGETS                                                                               \
    static void NAME(T *z, Py_ssize_t n, Py_ssize_t k, const T *bias, const T *scale,     \
                     const Py_ssize_t *labels, T *out, int reference)                     \
    {                                                                                     \
        for (Py_ssize_t i = 0; i < n; i++) {                                              \
            T *row = z + i * k;                                                           \
            T m = reference ? (T)0 : -(T)INFINITY;                                        \
            if (bias != NULL) {                                                           \
                _Pragma("omp simd reduction(max : m)")                                    \
                for (Py_ssize_t j = 0; j < k; j++) {                                      \
                    row[j] += bias[j];                                                    \
                    m = row[j] > m ? row[j] : m;                                          \
                }                                                                         \
            }                                                                             \
            else {                                                                        \
                _Pragma("omp simd reduction(max : m)")                                    \
                for (Py_ssize_t j = 0; j < k; j++) {                                      \
                    m = row[j] > m ? row[j] : m;                                          \
                }                                                                         \
            }                                                                             \
            /* The observed logit, shifted like the row (the reference class: 0). */     \
            T observed = (T)0;                                                            \
            if (labels != NULL) {                                                         \
                observed = (labels[i] < 0 ? (T)0 : row[labels[i]]) - m;                   \
            }                                                                             \
            T sum = reference ? EXP(-m) : (T)0;                                           \
            _Pragma("omp simd reduction(+ : sum)")                                        \
            for (Py_ssize_t j = 0; j < k; j++) {                                          \
                T e = EXP(row[j] - m);                                                    \
                row[j] = e;                                                               \
                sum += e;                                                                 \
            }                                                                             \
            T weight = scale != NULL ? scale[i] : (T)1;                                   \
            T factor = weight / sum;                                                      \
            for (Py_ssize_t j = 0; j < k; j++) {                                          \
                row[j] *= factor;                                                         \
            }                                                                             \
            if (labels == NULL) {                                                         \
                out[i] = LOG(sum) + m;                                                    \
            }                                                                             \
            else {                                                                        \
                out[i] = LOG(sum) - observed;                                             \
                if (labels[i] >= 0) {                                                     \
                    row[labels[i]] -= weight;                                             \
                }                                                                         \
            }                                                                             \
        }                                                                                 \
    }

/* The same for narrow rows, a tile of rows at a time: maxima and sums are
 * taken column by column (independent rows, no chain of dependent additions)
 * and the exps run as one flat loop over the tile, which vectorises whatever
 * k is. Per-row sweeps over 10 entries spend their time in loop overheads and
 * dependency chains: timed alone on blocks of 256 KiB, the row kernel took
 * 8.8 (float64) and 7.4 (float32) ns per entry at k=10, the tiles 4.3 and 2.5;
 * at k=50 2.9/1.6 against 3.9/2.2; from k=100 on the row kernel is as fast or
 * faster (k=1000: 2.6/1.0 against 8.1/6.4). Rows of at most NARROW entries go
 * to the tiles. */
#define TILE 1024
#define NARROW 64
#define SOFTMAX_TILES(NAME, T, EXP, LOG)                                                  \
    TARGETS                                                                               \
    static void NAME(T *z, Py_ssize_t n, Py_ssize_t k, const T *bias, const T *scale,     \
                     const Py_ssize_t *labels, T *out, int reference)                     \
    {                                                                                     \
        T maxima[TILE], sums[TILE], observed[TILE];                                       \
        Py_ssize_t rows = k < TILE ? TILE / k : 1;                                        \
        for (Py_ssize_t i0 = 0; i0 < n; i0 += rows) {                                     \
            Py_ssize_t r = n - i0 < rows ? n - i0 : rows;                                 \
            T *tile = z + i0 * k;                                                         \
            if (bias != NULL) {                                                           \
                for (Py_ssize_t i = 0; i < r; i++) {                                      \
                    for (Py_ssize_t j = 0; j < k; j++) {                                  \
                        tile[i * k + j] += bias[j];                                       \
                    }                                                                     \
                }                                                                         \
            }                                                                             \
            /* Column by column: independent rows, no dependency chains. */               \
            for (Py_ssize_t i = 0; i < r; i++) {                                          \
                maxima[i] = reference ? (T)0 : tile[i * k];                               \
            }                                                                             \
            for (Py_ssize_t j = 0; j < k; j++) {                                          \
                for (Py_ssize_t i = 0; i < r; i++) {                                      \
                    T v = tile[i * k + j];                                                \
                    maxima[i] = v > maxima[i] ? v : maxima[i];                            \
                }                                                                         \
            }                                                                             \
            if (labels != NULL) {                                                         \
                const Py_ssize_t *label = labels + i0;                                    \
                for (Py_ssize_t i = 0; i < r; i++) {                                      \
                    T v = label[i] < 0 ? (T)0 : tile[i * k + label[i]];                   \
                    observed[i] = v - maxima[i];                                          \
                }                                                                         \
            }                                                                             \
            for (Py_ssize_t i = 0; i < r; i++) {                                          \
                for (Py_ssize_t j = 0; j < k; j++) {                                      \
                    tile[i * k + j] -= maxima[i];                                         \
                }                                                                         \
            }                                                                             \
            for (Py_ssize_t e = 0; e < r * k; e++) {                                      \
                tile[e] = EXP(tile[e]);                                                   \
            }                                                                             \
            for (Py_ssize_t i = 0; i < r; i++) {                                          \
                sums[i] = reference ? EXP(-maxima[i]) : (T)0;                             \
            }                                                                             \
            for (Py_ssize_t j = 0; j < k; j++) {                                          \
                for (Py_ssize_t i = 0; i < r; i++) {                                      \
                    sums[i] += tile[i * k + j];                                           \
                }                                                                         \
            }                                                                             \
            for (Py_ssize_t i = 0; i < r; i++) {                                          \
                T factor = (scale != NULL ? scale[i0 + i] : (T)1) / sums[i];              \
                for (Py_ssize_t j = 0; j < k; j++) {                                      \
                    tile[i * k + j] *= factor;                                            \
                }                                                                         \
            }                                                                             \
            if (labels == NULL) {                                                         \
                for (Py_ssize_t i = 0; i < r; i++) {                                      \
                    out[i0 + i] = LOG(sums[i]) + maxima[i];                               \
                }                                                                         \
            }                                                                             \
            else {                                                                        \
                const Py_ssize_t *label = labels + i0;                                    \
                for (Py_ssize_t i = 0; i < r; i++) {                                      \
                    out[i0 + i] = LOG(sums[i]) - observed[i];                             \
                    if (label[i] >= 0) {                                                  \
                        tile[i * k + label[i]] -= scale != NULL ? scale[i0 + i] : (T)1;   \
                    }                                                                     \
                }                                                                         \
            }                                                                             \
        }                                                                                 \
    }

SOFTMAX_TILES(softmax_tiles_f64, double, exp_f64, log)
SOFTMAX_TILES(softmax_tiles_f32, float, exp_f32, logf)

SOFTMAX_ROWS(softmax_rows_f64, double, exp_f64, log)
SOFTMAX_ROWS(softmax_rows_f32, float, exp_f32, logf)

/* The Hessian of the cross-entropy in the logits applied to a direction, row by
 * row: with q_i = s_i p_i (the weighted probabilities) and r_i = x_i V + b,
 * r_i becomes q_i * (r_i - <q_i, r_i> / s_i), i.e. s_i (diag(p_i) - p_i p_i^T) r_i.
 * One sweep for the intercept and the row's dot product, one for the rest,
 * where numpy took five passes over the block, each dominated by per-call and
 * broadcasting overhead on short rows (1437 x 10: about 60 us against 5-10 for
 * the sweeps). */
#define HESSIAN_ROWS(NAME, T)                                                             \
    TARGETS                                                                               \
    static void NAME(T *r, const T *q, Py_ssize_t n, Py_ssize_t k, const T *bias,         \
                     const T *inv_scale)                                                  \
    {                                                                                     \
        for (Py_ssize_t i = 0; i < n; i++) {                                              \
            T *row = r + i * k;                                                           \
            const T *qrow = q + i * k;                                                    \
            T dot = (T)0;                                                                 \
            if (bias != NULL) {                                                           \
                _Pragma("omp simd reduction(+ : dot)")                                    \
                for (Py_ssize_t j = 0; j < k; j++) {                                      \
                    row[j] += bias[j];                                                    \
                    dot += qrow[j] * row[j];                                              \
                }                                                                         \
            }                                                                             \
            else {                                                                        \
                _Pragma("omp simd reduction(+ : dot)")                                    \
                for (Py_ssize_t j = 0; j < k; j++) {                                      \
                    dot += qrow[j] * row[j];                                              \
                }                                                                         \
            }                                                                             \
            T t = dot * inv_scale[i];                                                     \
            _Pragma("omp simd")                                                           \
            for (Py_ssize_t j = 0; j < k; j++) {                                          \
                row[j] = qrow[j] * (row[j] - t);                                          \
            }                                                                             \
        }                                                                                 \
    }

HESSIAN_ROWS(hessian_rows_f64, double)
HESSIAN_ROWS(hessian_rows_f32, float)

static PyObject *
exp_inplace(PyObject *module, PyObject *arg)
{
    Py_buffer view;
    if (PyObject_GetBuffer(arg, &view, PyBUF_WRITABLE | PyBUF_FORMAT | PyBUF_C_CONTIGUOUS) < 0) {
        return NULL;
    }
    const char *format = view.format == NULL ? "" : view.format;
    int f64 = strcmp(format, "d") == 0;
    if (!f64 && strcmp(format, "f") != 0) {
        PyBuffer_Release(&view);
        PyErr_SetString(PyExc_TypeError,
                        "exp_inplace needs a writable C-contiguous float32 or float64 buffer");
        return NULL;
    }
    Py_BEGIN_ALLOW_THREADS
    if (f64) {
        exp_loop_f64((double *)view.buf, view.len / (Py_ssize_t)sizeof(double));
    }
    else {
        exp_loop_f32((float *)view.buf, view.len / (Py_ssize_t)sizeof(float));
    }
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&view);
    Py_RETURN_NONE;
}

/* A C-contiguous 2-D float32 or float64 buffer; returns 1 for float64, 0 for
 * float32, -1 (an exception set, nothing held) on failure. */
static int
get_matrix(PyObject *obj, Py_buffer *view, int writable, const char *func, const char *name)
{
    int flags = PyBUF_FORMAT | PyBUF_C_CONTIGUOUS | (writable ? PyBUF_WRITABLE : 0);
    if (PyObject_GetBuffer(obj, view, flags) < 0) {
        return -1;
    }
    const char *format = view->format == NULL ? "" : view->format;
    int f64 = strcmp(format, "d") == 0;
    if (view->ndim != 2 || (!f64 && strcmp(format, "f") != 0)) {
        PyBuffer_Release(view);
        PyErr_Format(PyExc_TypeError,
                     "%s: %s must be a %sC-contiguous 2-D float32 or float64 array", func, name,
                     writable ? "writable " : "");
        return -1;
    }
    return f64;
}

/* A C-contiguous 1-D buffer of `length` entries in the given struct format ("d"
 * or "f"); on failure an exception is set and nothing is held. */
static int
get_vector(PyObject *obj, Py_buffer *view, int writable, const char *format, Py_ssize_t length,
           const char *func, const char *name)
{
    int flags = PyBUF_FORMAT | PyBUF_C_CONTIGUOUS | (writable ? PyBUF_WRITABLE : 0);
    if (PyObject_GetBuffer(obj, view, flags) < 0) {
        return -1;
    }
    if (view->ndim != 1 || view->format == NULL || strcmp(view->format, format) != 0) {
        PyBuffer_Release(view);
        PyErr_Format(PyExc_TypeError,
                     "%s: %s must be a C-contiguous 1-D float32 or float64 array "
                     "(the dtype of the 2-D arrays)",
                     func, name);
        return -1;
    }
    if (view->shape[0] != length) {
        PyBuffer_Release(view);
        PyErr_Format(PyExc_ValueError, "%s: %s needs %zd entries", func, name, length);
        return -1;
    }
    return 0;
}

/* Labels: a C-contiguous 1-D array of n platform integers (numpy's intp), each
 * a column of z, or -1 for the reference class where there is one. */
static int
get_labels(PyObject *obj, Py_buffer *view, Py_ssize_t n, Py_ssize_t k, int reference)
{
    if (PyObject_GetBuffer(obj, view, PyBUF_FORMAT | PyBUF_C_CONTIGUOUS) < 0) {
        return -1;
    }
    const char *format = view->format == NULL ? "" : view->format;
    if (view->ndim != 1 || view->itemsize != (Py_ssize_t)sizeof(Py_ssize_t) ||
        format[0] == '\0' || format[1] != '\0' || strchr("lqn", format[0]) == NULL) {
        PyBuffer_Release(view);
        PyErr_SetString(PyExc_TypeError,
                        "softmax_rows: labels must be a C-contiguous 1-D intp array");
        return -1;
    }
    const Py_ssize_t *labels = (const Py_ssize_t *)view->buf;
    int bad = view->shape[0] != n;
    for (Py_ssize_t i = 0; i < n && !bad; i++) {
        bad = labels[i] >= k || labels[i] < -(Py_ssize_t)reference;
    }
    if (bad) {
        PyBuffer_Release(view);
        PyErr_SetString(PyExc_ValueError,
                        "softmax_rows: labels need n entries, each a column of z "
                        "(or -1, the reference class, with reference)");
        return -1;
    }
    return 0;
}

/* Releases the first `held` views; None, or NULL if an exception is set. */
static PyObject *
release(Py_buffer *views, int held)
{
    for (int i = 0; i < held; i++) {
        PyBuffer_Release(&views[i]);
    }
    if (PyErr_Occurred()) {
        return NULL;
    }
    Py_RETURN_NONE;
}

static PyObject *
softmax_rows(PyObject *module, PyObject *args)
{
    PyObject *z_obj, *bias_obj, *scale_obj, *out_obj, *labels_obj = Py_None;
    int reference;
    if (!PyArg_ParseTuple(args, "OOOOp|O:softmax_rows", &z_obj, &bias_obj, &scale_obj, &out_obj,
                          &reference, &labels_obj)) {
        return NULL;
    }
    /* views[0] z, then out, bias, scale, labels as given; held: how many are taken. */
    Py_buffer views[5];
    int held = 0;
    int f64 = get_matrix(z_obj, &views[0], 1, "softmax_rows", "z");
    if (f64 < 0) {
        return NULL;
    }
    held = 1;
    Py_buffer *z = &views[0];
    const char *format = f64 ? "d" : "f";
    Py_ssize_t n = z->shape[0], k = z->shape[1];
    void *out, *bias = NULL, *scale = NULL;
    const Py_ssize_t *labels = NULL;
    if (get_vector(out_obj, &views[held], 1, format, n, "softmax_rows", "out") < 0) {
        goto done;
    }
    out = views[held++].buf;
    if (bias_obj != Py_None) {
        if (get_vector(bias_obj, &views[held], 0, format, k, "softmax_rows", "bias") < 0) {
            goto done;
        }
        bias = views[held++].buf;
    }
    if (scale_obj != Py_None) {
        if (get_vector(scale_obj, &views[held], 0, format, n, "softmax_rows", "scale") < 0) {
            goto done;
        }
        scale = views[held++].buf;
    }
    if (labels_obj != Py_None) {
        if (get_labels(labels_obj, &views[held], n, k, reference) < 0) {
            goto done;
        }
        labels = (const Py_ssize_t *)views[held++].buf;
    }
    Py_BEGIN_ALLOW_THREADS
    int narrow = k <= NARROW;
    if (f64 && narrow) {
        softmax_tiles_f64(z->buf, n, k, bias, scale, labels, out, reference);
    }
    else if (narrow) {
        softmax_tiles_f32(z->buf, n, k, bias, scale, labels, out, reference);
    }
    else if (f64) {
        softmax_rows_f64(z->buf, n, k, bias, scale, labels, out, reference);
    }
    else {
        softmax_rows_f32(z->buf, n, k, bias, scale, labels, out, reference);
    }
    Py_END_ALLOW_THREADS

done:
    return release(views, held);
}

static PyObject *
hessian_rows(PyObject *module, PyObject *args)
{
    PyObject *r_obj, *q_obj, *bias_obj, *inv_scale_obj;
    if (!PyArg_ParseTuple(args, "OOOO:hessian_rows", &r_obj, &q_obj, &bias_obj, &inv_scale_obj)) {
        return NULL;
    }
    /* views: r, q, inv_scale, bias (if given); held: how many are taken. */
    Py_buffer views[4];
    int held = 0;
    int f64 = get_matrix(r_obj, &views[0], 1, "hessian_rows", "r");
    if (f64 < 0) {
        return NULL;
    }
    held = 1;
    const char *format = f64 ? "d" : "f";
    Py_ssize_t n = views[0].shape[0], k = views[0].shape[1];
    void *bias = NULL;
    int q_f64 = get_matrix(q_obj, &views[held], 0, "hessian_rows", "q");
    if (q_f64 < 0) {
        goto done;
    }
    held++;
    if (q_f64 != f64 || views[1].shape[0] != n || views[1].shape[1] != k) {
        PyErr_SetString(PyExc_ValueError, "hessian_rows: q must have r's shape and dtype");
        goto done;
    }
    if (get_vector(inv_scale_obj, &views[held], 0, format, n, "hessian_rows", "inv_scale") < 0) {
        goto done;
    }
    held++;
    if (bias_obj != Py_None) {
        if (get_vector(bias_obj, &views[held], 0, format, k, "hessian_rows", "bias") < 0) {
            goto done;
        }
        bias = views[held++].buf;
    }
    Py_BEGIN_ALLOW_THREADS
    if (f64) {
        hessian_rows_f64(views[0].buf, views[1].buf, n, k, bias, views[2].buf);
    }
    else {
        hessian_rows_f32(views[0].buf, views[1].buf, n, k, bias, views[2].buf);
    }
    Py_END_ALLOW_THREADS

done:
    return release(views, held);
}

static PyMethodDef methods[] = {
    {"exp_inplace", exp_inplace, METH_O,
     "exp_inplace(buffer)\n--\n\nOverwrite a writable C-contiguous float32 or float64 buffer "
     "with its exponential, as softmax_rows computes it (within 1 ulp; releases the GIL)."},
    {"softmax_rows", softmax_rows, METH_VARARGS,
     "softmax_rows(z, bias, scale, out, reference, labels=None)\n--\n\n"
     "Overwrite the rows of a C-contiguous float32 or float64 (n, k) array z by\n"
     "scale[i] * softmax(z[i] + bias) and write their log-sum-exp to out (n,); bias\n"
     "(k,) and scale (n,) may be None. With reference, an implicit class of logit 0\n"
     "takes part in the normalisation. With labels (n,) intp, the column of each\n"
     "row's observed class (-1: the reference class), z becomes the gradient of the\n"
     "cross-entropy in the logits, scale[i] * (softmax(z[i] + bias) - onehot), and\n"
     "out the cross-entropy itself. All float arrays share z's dtype; releases the\n"
     "GIL."},
    {"hessian_rows", hessian_rows, METH_VARARGS,
     "hessian_rows(r, q, bias, inv_scale)\n--\n\n"
     "Overwrite the rows of a C-contiguous float32 or float64 (n, k) array r by\n"
     "q[i] * (r[i] + bias - <q[i], r[i] + bias> * inv_scale[i]): with q[i] = s_i p_i\n"
     "and inv_scale[i] = 1 / s_i, the Hessian of the weighted cross-entropy in the\n"
     "logits, s_i (diag(p_i) - p_i p_i^T), times r[i] + bias. q (n, k), bias (k,) or\n"
     "None and inv_scale (n,) share r's dtype; releases the GIL."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_kernels", "Compiled element-wise kernels for softmax_sk.", -1, methods,
};

PyMODINIT_FUNC
PyInit__kernels(void)
{
    return PyModule_Create(&module);
}
