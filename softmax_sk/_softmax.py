"""Numerically stable softmax, log-softmax and log-sum-exp.

Every function here shifts the logits by their row maximum before
exponentiating, so the result is finite and normalised for any finite input
(logits of +-1e300 included). The public functions work on any array that
follows the Python array API standard (NumPy, CuPy, PyTorch through
``array_api_compat``); the private ``_softmax_inplace`` is the kernel that
the loss uses on its row blocks (compiled where ``softmax_sk._kernels`` was
built, numpy otherwise).

A *reference* class, used for two-class problems, is a class whose logit is
fixed at 0 and not stored: the logits ``z`` of shape ``(n, k)`` then describe
``k + 1`` classes, the reference being class 0.
"""

import importlib
import os

import numpy as np


def _env_flag(name):
    """Whether the environment variable ``name`` is set to something true ("1", "yes")."""
    return os.environ.get(name, "").strip().lower() not in ("", "0", "false", "no", "off")


# The compiled kernels (softmax_sk._kernels, built at install time where a C
# compiler is found), or None: numpy throughout. SOFTMAX_SK_NO_KERNELS=1 forces
# None; SOFTMAX_SK_REQUIRE_KERNELS=1 does not change the import (the test suite
# fails without the kernels instead: tests/test_kernels.py). _kernels_missing
# says why they are not there ("" when they are).
_kernels_missing = ""
if _env_flag("SOFTMAX_SK_NO_KERNELS"):
    _kernels = None
    _kernels_missing = "disabled by SOFTMAX_SK_NO_KERNELS"
else:
    try:
        _kernels = importlib.import_module("._kernels", __package__)
    except ModuleNotFoundError as exc:  # installed without a C compiler: numpy throughout
        if exc.name != f"{__package__}._kernels":
            raise
        _kernels = None
        _kernels_missing = (
            "not built (no softmax_sk._kernels: no C compiler at install time, or its build "
            "failed; `pip install -v` shows why)"
        )
    except ImportError as exc:  # built, but cannot be loaded (another Python, say)
        _kernels = None
        _kernels_missing = f"built but not loadable ({exc})"


def _kernels_status():
    """One line: whether ``_softmax_inplace`` and ``_hessian_rows_inplace`` use the kernels."""
    if _kernels is not None:
        return f"in use ({getattr(_kernels, '__file__', _kernels)})"
    return f"not in use, numpy fallback: {_kernels_missing or 'switched off at run time'}"


__all__ = ["log_softmax", "logsumexp", "softmax"]


def _namespace(x):
    """The array API namespace of ``x`` (NumPy for lists and NumPy arrays)."""
    if isinstance(x, np.ndarray) or not hasattr(x, "shape"):
        return np
    from sklearn.externals.array_api_compat import array_namespace

    return array_namespace(x)


def _logits(z, xp):
    """``z`` as an array of ``xp`` whose differences are exact: booleans and integers
    (whose subtraction fails or wraps around) as float64."""
    z = xp.asarray(z)
    if xp is np:  # numpy 1.x has no isdtype
        return z.astype(np.float64) if z.dtype.kind in "biu" else z
    if xp.isdtype(z.dtype, ("bool", "integral")):
        z = xp.astype(z, xp.float64)
    return z


def _astype(x, dtype, xp):
    """``x`` in ``dtype``: the array API's ``astype``, or the method (numpy 1.x has no
    ``np.astype``)."""
    return x.astype(dtype) if xp is np else xp.astype(x, dtype)


def _shifted(z, axis, xp):
    """``(z - m, m)`` with ``m`` the maximum along ``axis`` (kept as a dimension).

    A row whose maximum is not finite (``-inf`` everywhere, say) is shifted by 0
    instead, so that no ``inf - inf`` appears; so is an empty one (a sum of no
    terms: its log is ``-inf``).
    """
    if 0 in z.shape:  # (any axis, any namespace and device: a sum of nothing is 0)
        return z, xp.sum(z, axis=axis, keepdims=True)
    m = xp.max(z, axis=axis, keepdims=True)
    m = xp.where(xp.isfinite(m), m, xp.zeros_like(m))
    with np.errstate(over="ignore"):  # 1e308 - (-1e308) overflows to -inf: exp -> 0
        return z - m, m


def logsumexp(z, axis=-1):
    """Log of the sum of exponentials of ``z`` along ``axis``, computed stably.

    Parameters
    ----------
    z : array of shape (..., n_classes)
        Logits. Any finite values, however large or small (booleans and
        integers are read as float64).
    axis : int, default=-1
        Axis to reduce.

    Returns
    -------
    lse : array
        ``log(sum(exp(z), axis))``, with ``axis`` removed. Finite for finite ``z``.

    Examples
    --------
    >>> import numpy as np
    >>> from softmax_sk import logsumexp
    >>> float(logsumexp(np.array([1000.0, 1000.0])))  # log(2) + 1000, no overflow
    1000.6931471805599
    """
    xp = _namespace(z)
    z = _logits(z, xp)
    shifted, m = _shifted(z, axis, xp)
    with np.errstate(divide="ignore"):  # an empty sum's log: -inf
        lse = xp.log(xp.sum(xp.exp(shifted), axis=axis, keepdims=True)) + m
    return xp.squeeze(lse, axis=axis)


def log_softmax(z, axis=-1):
    """Log of the softmax of ``z`` along ``axis``: ``z - logsumexp(z)``.

    Computed from the shifted logits, never as ``log(softmax(z))``, so a class
    whose probability underflows to 0 still gets its exact, finite log
    probability.

    Parameters
    ----------
    z : array of shape (..., n_classes)
        Logits.
    axis : int, default=-1
        The class axis.

    Returns
    -------
    log_p : array of the shape of ``z``
        Log probabilities; ``exp(log_p)`` sums to 1 along ``axis``.

    Examples
    --------
    >>> import numpy as np
    >>> from softmax_sk import log_softmax
    >>> log_softmax(np.array([0.0, 800.0]))  # log(softmax) would give -inf
    array([-800.,    0.])
    """
    xp = _namespace(z)
    z = _logits(z, xp)
    shifted, _ = _shifted(z, axis, xp)
    with np.errstate(divide="ignore"):  # an empty sum's log: -inf (of no entries)
        return shifted - xp.log(xp.sum(xp.exp(shifted), axis=axis, keepdims=True))


def softmax(z, axis=-1):
    """Softmax of ``z`` along ``axis``: ``exp(z) / sum(exp(z))``, computed stably.

    Parameters
    ----------
    z : array of shape (..., n_classes)
        Logits.
    axis : int, default=-1
        The class axis.

    Returns
    -------
    p : array of the shape of ``z``
        Probabilities in [0, 1] that sum to 1 along ``axis``.

    Examples
    --------
    >>> import numpy as np
    >>> from softmax_sk import softmax
    >>> softmax(np.array([[1e300, -1e300], [0.0, 0.0]]))
    array([[1. , 0. ],
           [0.5, 0.5]])
    """
    xp = _namespace(z)
    z = _logits(z, xp)
    shifted, _ = _shifted(z, axis, xp)
    e = xp.exp(shifted)
    return e / xp.sum(e, axis=axis, keepdims=True)


def _row_max(z):
    """Row maxima of a 2-D array; for narrow rows a column loop beats ``max(axis=1)``."""
    if z.shape[1] > 32:
        return z.max(axis=1)
    m = z[:, 0].copy()
    for j in range(1, z.shape[1]):
        np.maximum(m, z[:, j], out=m)
    return m


def _softmax_inplace(z, reference, scale=None, bias=None, labels=None):
    """Overwrite the logits ``z`` (n, k) by ``scale * softmax(z + bias)``; return the log-sum-exp.

    With ``reference=True`` the logits of an implicit class 0, fixed at 0, take
    part in the normalisation: the rows of the result then sum to
    ``1 - p_reference``. ``bias`` (k,), if given, is added to every row and
    ``scale`` (n,) multiplies each row, both fused with the normalisation. The
    row log-sum-exp (over all classes, of ``z + bias``) is returned as a new
    array of shape (n,) in ``z``'s dtype.

    With ``labels`` (n,) of intp, the column of each row's observed class (-1
    for the reference class), the same sweep finishes the cross-entropy: ``z``
    becomes its gradient in the logits, ``scale * (softmax(z + bias) - onehot)``,
    and the cross-entropy ``logsumexp(z_i + bias) - (z_i + bias)[label]`` is
    returned instead of the log-sum-exp.

    ``softmax_sk._kernels.softmax_rows`` (compiled at install time where a C
    compiler is found) does this row by row for wide rows and a tile of rows at
    a time for narrow ones, the data staying in cache; without it, or for a
    non-contiguous ``z``, numpy does it in about six passes over the block (row
    sums through BLAS, ``z @ 1``) plus a gather and a scatter for the labels,
    all in place: its working memory is a few (n,) vectors, never a block.

    A block of no rows is a no-op. A block of no columns (k == 0) raises
    ValueError without a reference class (a softmax over no classes is
    undefined); with one, the reference class is the only class: ``z`` has
    nothing to write and the log-sum-exp (or cross-entropy) is 0.
    """
    if z.shape[1] == 0:
        if not reference:
            raise ValueError("softmax of a block with no columns and no reference class")
        return np.zeros(z.shape[0], dtype=z.dtype)
    if bias is not None:
        bias = np.ascontiguousarray(bias, dtype=z.dtype)
    if scale is not None:
        scale = np.ascontiguousarray(scale, dtype=z.dtype)
    out = np.empty(z.shape[0], dtype=z.dtype)
    if _kernels is not None and z.dtype in (np.float32, np.float64) and z.flags.c_contiguous:
        _kernels.softmax_rows(z, bias, scale, out, reference, labels)
        return out
    if bias is not None:
        z += bias
    m = _row_max(z)
    if reference:
        np.maximum(m, 0.0, out=m)
    z -= m[:, None]
    if labels is not None:
        rows = np.flatnonzero(labels >= 0)
        observed = -m  # the reference class's logit 0, shifted
        observed[rows] = z[rows, labels[rows]]
    np.exp(z, out=z)
    total = z @ np.ones(z.shape[1], dtype=z.dtype)
    if reference:
        total += np.exp(-m)
    factor = (1.0 if scale is None else scale) / total
    z *= factor[:, None]
    np.log(total, out=out)
    if labels is None:
        out += m
        return out
    out -= observed
    z[rows, labels[rows]] -= 1.0 if scale is None else scale[rows]
    return out


def _hessian_rows_inplace(r, q, inv_scale, bias=None):
    """``r`` becomes ``s_i (diag(p_i) - p_i p_i^T) (r_i + bias)``, row by row, in place.

    ``q`` (n, k) holds the weighted probabilities ``s_i p_i`` and ``inv_scale``
    (n,) ``1 / s_i`` (0 where ``s_i`` is 0: such rows become 0), both in ``r``'s
    dtype; ``bias`` (k,) may be None. With a reference class, whose column is
    not stored, the formula is the same: its ``r`` is 0. This is the Hessian of
    the weighted cross-entropy in the logits applied to a direction's logits,
    ``q_i * (r_i - <q_i, r_i> / s_i)``. ``softmax_sk._kernels.hessian_rows``
    does it in two sweeps per row; numpy, without it, in four passes, in place
    (the row dot products through ``einsum``, whose only temporary is the (n,)
    result, where ``(r * q) @ 1`` held a block-sized product).
    """
    if (
        _kernels is not None
        and r.dtype in (np.float32, np.float64)
        and r.flags.c_contiguous
        and r.flags.writeable
        and q.flags.c_contiguous
    ):
        _kernels.hessian_rows(r, q, bias, inv_scale)
        return r
    if bias is not None:
        r += bias
    t = np.einsum("ij,ij->i", r, q)
    t *= inv_scale
    r -= t[:, None]
    r *= q
    return r


def _scaled_logits(z, row_scale):
    """``row_scale[:, None] * z`` (see ``_scaled_softmax``): +-inf where it overflows,
    0 where ``z`` is 0 whatever the scale. Any array-API namespace."""
    if row_scale is None:
        return z
    xp = _namespace(z)
    with np.errstate(over="ignore", invalid="ignore"):
        scaled = _astype(z, row_scale.dtype, xp) * row_scale[:, None]
        return _astype(xp.where(z == 0, xp.zeros_like(scaled), scaled), z.dtype, xp)


def _scaled_softmax(z, row_scale, log=False):
    """Softmax (or log-softmax) along axis 1 of ``row_scale[:, None] * z``, never formed.

    ``row_scale`` (n,) of positive finite values, or None (all 1), comes with
    logits that would overflow if multiplied out (``_layout.Layout.logits``):
    the shifted logits ``z - max`` are scaled instead, and are 0 at the maximum
    and at worst ``-inf`` elsewhere, so the result has no NaN. Any array-API namespace.
    """
    xp = _namespace(z)
    shifted, _ = _shifted(z, 1, xp)
    if row_scale is not None:  # <= 0 times a positive scale: 0 stays 0 even times inf
        with np.errstate(over="ignore", invalid="ignore"):
            scaled = _astype(shifted, row_scale.dtype, xp) * row_scale[:, None]
            scaled = xp.where(shifted < 0, scaled, xp.zeros_like(scaled))
            shifted = _astype(scaled, z.dtype, xp)
    if log:
        return shifted - xp.log(xp.sum(xp.exp(shifted), axis=1, keepdims=True))
    e = xp.exp(shifted)
    return e / xp.sum(e, axis=1, keepdims=True)
