# cython: language_level=3, boundscheck=False, wraparound=False, initializedcheck=False
# cython: cdivision=True, embedsignature=True
"""Compiled element-wise kernels for softmax_sk: exp, fused softmax rows, Hessian rows.

Optional: built by setup.py where a C compiler is found; ``softmax_sk._softmax``
falls back to numpy without it (or with ``SOFTMAX_SK_NO_KERNELS=1``).

This module is the boundary: every argument is checked here (array type, ndim,
dtype, which all float arrays share with the first one, lengths, C order,
writability, label range) before anything is written, so a bad call raises
TypeError (kind of object, ndim, dtype) or ValueError (shape, length, layout,
writability, labels) and leaves its arrays as they were. The checked arrays are
then taken as typed memoryviews of a fused float32/float64 type and handed, without
the GIL, to the loops of ``_kernels.h``: plain C, because gcc vectorises them with
AVX2 + FMA only through ``target_clones`` and ``omp simd`` reductions, which
Cython cannot express: the same loops written in Cython ran 1.7-4.2x slower
(``benchmarks/results/notes.md``).

Empty blocks: n == 0 rows is a no-op. k == 0 columns: ``softmax_rows`` raises
without a reference class (a softmax over no classes is undefined); with one,
the reference class is the only class, its probability 1 is implicit, z has
nothing to write and ``out`` gets log(exp(0)) = 0 (the cross-entropy with every
label -1 is 0 too). ``hessian_rows`` of a (n, 0) block is a no-op (nothing to
write).
"""

import numpy as np

from cython cimport floating
from libc.stddef cimport ptrdiff_t


cdef extern from "_kernels.h" nogil:
    enum: SK_NARROW
    void sk_exp_f64_loop(double *x, ptrdiff_t n)
    void sk_exp_f32_loop(float *x, ptrdiff_t n)
    void sk_softmax_rows_f64(double *z, ptrdiff_t n, ptrdiff_t k, const double *bias,
                             const double *scale, const ptrdiff_t *labels, double *out,
                             int reference)
    void sk_softmax_rows_f32(float *z, ptrdiff_t n, ptrdiff_t k, const float *bias,
                             const float *scale, const ptrdiff_t *labels, float *out,
                             int reference)
    void sk_softmax_tiles_f64(double *z, ptrdiff_t n, ptrdiff_t k, const double *bias,
                              const double *scale, const ptrdiff_t *labels, double *out,
                              int reference)
    void sk_softmax_tiles_f32(float *z, ptrdiff_t n, ptrdiff_t k, const float *bias,
                              const float *scale, const ptrdiff_t *labels, float *out,
                              int reference)
    void sk_hessian_rows_f64(double *r, const double *q, ptrdiff_t n, ptrdiff_t k,
                             const double *bias, const double *inv_scale)
    void sk_hessian_rows_f32(float *r, const float *q, ptrdiff_t n, ptrdiff_t k,
                             const float *bias, const float *inv_scale)


_F64 = np.dtype(np.float64)
_FLOATS = (_F64, np.dtype(np.float32))
_INTP = np.dtype(np.intp)


cdef object _as_array(object obj, str func, str name):
    """``obj`` as an ndarray sharing its memory (never a copy)."""
    if isinstance(obj, np.ndarray):
        return obj
    try:
        return np.asarray(memoryview(obj))
    except TypeError:
        raise TypeError(
            f"{func}: {name} must be an array (an object with the buffer protocol), "
            f"got {type(obj).__name__}"
        ) from None


cdef object _check_layout(object a, str func, str name, bint writable):
    if not a.flags.c_contiguous:
        raise ValueError(f"{func}: {name} must be C-contiguous")
    if writable and not a.flags.writeable:
        raise ValueError(f"{func}: {name} is read-only; it is overwritten in place")
    return a


cdef object _float_matrix(object obj, str func, str name, bint writable):
    """A 2-D float32 or float64 C-contiguous (writable) array."""
    a = _as_array(obj, func, name)
    if a.ndim != 2 or a.dtype not in _FLOATS:
        raise TypeError(
            f"{func}: {name} must be a 2-D float32 or float64 array, got {a.ndim}-D {a.dtype}"
        )
    return _check_layout(a, func, name, writable)


cdef object _float_vector(object obj, str func, str name, object dtype, Py_ssize_t length,
                          str length_name, bint writable):
    """A 1-D C-contiguous array of ``length`` entries in ``dtype`` (the block's)."""
    a = _as_array(obj, func, name)
    if a.ndim != 1 or a.dtype != dtype:
        raise TypeError(
            f"{func}: {name} must be a 1-D {dtype} array (the block's dtype), "
            f"got {a.ndim}-D {a.dtype}"
        )
    if a.shape[0] != length:
        raise ValueError(
            f"{func}: {name} needs {length} entries ({length_name}), got {a.shape[0]}"
        )
    return _check_layout(a, func, name, writable)


cdef Py_ssize_t _first_bad_label(const Py_ssize_t[::1] labels, Py_ssize_t k,
                                 Py_ssize_t low) noexcept nogil:
    """The index of the first label outside low..k-1, or -1."""
    cdef Py_ssize_t i
    for i in range(labels.shape[0]):
        if labels[i] >= k or labels[i] < low:
            return i
    return -1


cdef object _labels(object obj, Py_ssize_t n, Py_ssize_t k, bint reference):
    a = _as_array(obj, "softmax_rows", "labels")
    if a.ndim != 1 or a.dtype != _INTP:
        raise TypeError(
            f"softmax_rows: labels must be a 1-D intp (np.intp) array, got {a.ndim}-D {a.dtype}"
        )
    if a.shape[0] != n:
        raise ValueError(f"softmax_rows: labels needs {n} entries (z's rows), got {a.shape[0]}")
    _check_layout(a, "softmax_rows", "labels", False)
    cdef Py_ssize_t low = -1 if reference else 0
    cdef Py_ssize_t bad = _first_bad_label(a, k, low)
    if bad >= 0:
        raise ValueError(
            f"softmax_rows: labels[{bad}] = {a[bad]} is not a column of z (0..{k - 1})"
            + (" nor -1 (the reference class)" if reference else
               "; -1 (the reference class) needs reference=True")
        )
    return a


cdef int _softmax_rows_typed(floating[:, ::1] z, const floating[::1] bias,
                             const floating[::1] scale, floating[::1] out, bint reference,
                             const Py_ssize_t[::1] labels) except -1:
    cdef Py_ssize_t n = z.shape[0], k = z.shape[1]
    cdef const floating *bias_p = NULL
    cdef const floating *scale_p = NULL
    cdef const ptrdiff_t *labels_p = NULL
    if bias is not None:
        bias_p = &bias[0]
    if scale is not None:
        scale_p = &scale[0]
    if labels is not None:
        labels_p = <const ptrdiff_t *> &labels[0]
    with nogil:
        if floating is double:
            if k <= SK_NARROW:
                sk_softmax_tiles_f64(&z[0, 0], n, k, bias_p, scale_p, labels_p, &out[0], reference)
            else:
                sk_softmax_rows_f64(&z[0, 0], n, k, bias_p, scale_p, labels_p, &out[0], reference)
        else:
            if k <= SK_NARROW:
                sk_softmax_tiles_f32(&z[0, 0], n, k, bias_p, scale_p, labels_p, &out[0], reference)
            else:
                sk_softmax_rows_f32(&z[0, 0], n, k, bias_p, scale_p, labels_p, &out[0], reference)
    return 0


cdef int _hessian_rows_typed(floating[:, ::1] r, const floating[:, ::1] q,
                             const floating[::1] bias, const floating[::1] inv_scale) except -1:
    cdef Py_ssize_t n = r.shape[0], k = r.shape[1]
    cdef const floating *bias_p = NULL
    if bias is not None:
        bias_p = &bias[0]
    with nogil:
        if floating is double:
            sk_hessian_rows_f64(&r[0, 0], &q[0, 0], n, k, bias_p, &inv_scale[0])
        else:
            sk_hessian_rows_f32(&r[0, 0], &q[0, 0], n, k, bias_p, &inv_scale[0])
    return 0


cdef int _exp_typed(floating[::1] x) except -1:
    with nogil:
        if floating is double:
            sk_exp_f64_loop(&x[0], x.shape[0])
        else:
            sk_exp_f32_loop(&x[0], x.shape[0])
    return 0


def exp_inplace(buf):
    """exp_inplace(buf)

    Overwrite a writable C-contiguous float32 or float64 array (any shape) with its
    exponential, as ``softmax_rows`` computes it: within 1 ulp of the correctly
    rounded value, exp's special values kept. Releases the GIL.
    """
    a = _as_array(buf, "exp_inplace", "buf")
    if a.dtype not in _FLOATS:
        raise TypeError(f"exp_inplace: buf must be a float32 or float64 array, got {a.dtype}")
    _check_layout(a, "exp_inplace", "buf", True)
    if a.size == 0:
        return None
    flat = a.reshape(-1)  # a view: a is C-contiguous
    if a.dtype == _F64:
        _exp_typed[double](flat)
    else:
        _exp_typed[float](flat)
    return None


def softmax_rows(z, bias, scale, out, bint reference, labels=None):
    """softmax_rows(z, bias, scale, out, reference, labels=None)

    Overwrite the rows of a C-contiguous float32 or float64 (n, k) array z by
    ``scale[i] * softmax(z[i] + bias)`` and write their log-sum-exp to out (n,);
    bias (k,) and scale (n,) may be None. With reference, an implicit class of
    logit 0 takes part in the normalisation. With labels (n,) intp, the column of
    each row's observed class (-1: the reference class), z becomes the gradient of
    the cross-entropy in the logits, ``scale[i] * (softmax(z[i] + bias) - onehot)``,
    and out the cross-entropy itself. All float arrays share z's dtype. Rows of at
    most 64 entries go through tiles of rows, wider ones row by row. n == 0 is a
    no-op; k == 0 raises ValueError without reference and sets out to 0 with it.
    Releases the GIL.
    """
    z = _float_matrix(z, "softmax_rows", "z", True)
    cdef Py_ssize_t n = z.shape[0], k = z.shape[1]
    dtype = z.dtype
    out = _float_vector(out, "softmax_rows", "out", dtype, n, "z's rows", True)
    if bias is not None:
        bias = _float_vector(bias, "softmax_rows", "bias", dtype, k, "z's columns", False)
    if scale is not None:
        scale = _float_vector(scale, "softmax_rows", "scale", dtype, n, "z's rows", False)
    if labels is not None:
        labels = _labels(labels, n, k, reference)
    if k == 0 and not reference:
        raise ValueError(
            "softmax_rows: z has no columns and there is no reference class: "
            "a softmax over no classes is undefined"
        )
    if n == 0:
        return None
    if k == 0:  # the reference class alone: probability 1, log-sum-exp log(exp(0))
        out[...] = 0
        return None
    if dtype == _F64:
        _softmax_rows_typed[double](z, bias, scale, out, reference, labels)
    else:
        _softmax_rows_typed[float](z, bias, scale, out, reference, labels)
    return None


def hessian_rows(r, q, bias, inv_scale):
    """hessian_rows(r, q, bias, inv_scale)

    Overwrite the rows of a C-contiguous float32 or float64 (n, k) array r by
    ``q[i] * (r[i] + bias - <q[i], r[i] + bias> * inv_scale[i])``: with
    ``q[i] = s_i p_i`` and ``inv_scale[i] = 1 / s_i``, the Hessian of the weighted
    cross-entropy in the logits, ``s_i (diag(p_i) - p_i p_i^T)``, times
    ``r[i] + bias``. q (n, k), bias (k,) or None and inv_scale (n,) share r's
    dtype. n == 0 or k == 0 is a no-op. Releases the GIL.
    """
    r = _float_matrix(r, "hessian_rows", "r", True)
    cdef Py_ssize_t n = r.shape[0], k = r.shape[1]
    dtype = r.dtype
    q = _as_array(q, "hessian_rows", "q")
    if q.ndim != 2 or q.dtype != dtype:
        raise TypeError(
            f"hessian_rows: q must be a 2-D {dtype} array (r's dtype), got {q.ndim}-D {q.dtype}"
        )
    if q.shape != r.shape:
        raise ValueError(f"hessian_rows: q must have r's shape {r.shape}, got {q.shape}")
    _check_layout(q, "hessian_rows", "q", False)
    inv_scale = _float_vector(inv_scale, "hessian_rows", "inv_scale", dtype, n, "r's rows", False)
    if bias is not None:
        bias = _float_vector(bias, "hessian_rows", "bias", dtype, k, "r's columns", False)
    if n == 0 or k == 0:
        return None
    if dtype == _F64:
        _hessian_rows_typed[double](r, q, bias, inv_scale)
    else:
        _hessian_rows_typed[float](r, q, bias, inv_scale)
    return None
