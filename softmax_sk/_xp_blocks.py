"""The block functions of ``_blocks`` for arrays of any array-API namespace (PyTorch, CuPy, ...).

Same names, arguments and partial sums as ``_blocks`` (whose module docstring
states the math), so that ``_loss.SoftmaxLoss`` runs either set unchanged;
only the primitives differ. ``_blocks`` overwrites its logits in place with the
compiled row kernels; here every step is one whole-block operation of the
block's namespace (a matrix product, a reduction along the classes, an
element-wise map), which is what a GPU runs well, and nothing loops over rows
in Python. Partial sums stay on the block's device (the engine, ``_xp_loss``,
adds them there and brings the totals to the host once per pass); the loss is
summed in the device's widest float (float64 where it has one), as ``_blocks``
sums it in float64. The block's ``labels`` are the stored-logit column of each
row's class (-1 for the reference class) and ``weights``/``inv_weights`` are in
X's dtype, all on X's device.
"""

from sklearn.externals.array_api_compat import array_namespace, device
from sklearn.utils._array_api import _max_precision_float_dtype

from ._softmax import _shifted


def _wide(xp, x):
    """The float dtype partial sums are kept in: float64 unless the device lacks it (MPS)."""
    return _max_precision_float_dtype(xp, device(x))


def _onehot(block, k, xp):
    """``(n, k)`` boolean: whether column ``j`` is row ``i``'s class (never, for the reference)."""
    columns = xp.arange(k, dtype=block.labels.dtype, device=device(block.labels))
    return block.labels[:, None] == columns[None, :]


def softmax_rows(z, reference, xp):
    """``(p, lse)``: row softmax of the logits ``z`` (n, k) and the row log-sum-exp (n, 1).

    With ``reference`` a class whose logit is fixed at 0 (not stored) takes part
    in the normalisation, as in ``_softmax._softmax_inplace``. Max-shifted: finite
    and normalised for any finite ``z``.
    """
    shifted, m = _shifted(z, 1, xp)
    if reference:  # the reference logit 0 may be the largest
        m_ref = xp.clip(m, min=0.0)
        shifted, m = shifted - (m_ref - m), m_ref
    e = xp.exp(shifted)
    total = xp.sum(e, axis=1, keepdims=True)
    if reference:
        total = total + xp.exp(-m)
    return e / total, xp.log(total) + m


def _logits(block, coef, intercept):
    z = block.X @ coef
    return z if intercept is None else z + intercept


def _logit_gradient(block, coef, intercept, reference):
    """``(G, loss)``: ``G = s_i (p_i - e_i)`` and the block's loss (a 0-d array)."""
    xp = array_namespace(block.X)
    z = _logits(block, coef, intercept)
    p, lse = softmax_rows(z, reference, xp)
    onehot = _onehot(block, z.shape[1], xp)
    observed = xp.sum(xp.where(onehot, z, xp.zeros_like(z)), axis=1)  # 0: the reference
    ce = lse[:, 0] - observed
    s = block.weights[:, None]
    G = (p - xp.astype(onehot, z.dtype)) * s
    wide = _wide(xp, z)
    return G, xp.sum(xp.astype(block.weights, wide) * xp.astype(ce, wide))


def _pull_back(X, G, with_intercept):
    """``(n_dof, k)``: ``X^T G`` on top of ``sum_i G_i`` (the latter only with an intercept)."""
    xp = array_namespace(X)
    weights = (G.T @ X).T  # as X.T @ G; 3-8x faster on PyTorch's CPU device (bench_gpu.py)
    if not with_intercept:
        return weights
    return xp.concat([weights, xp.sum(G, axis=0, keepdims=True)], axis=0)


def loss(block, coef, intercept, reference):
    """``(loss,)``: the block's weighted cross-entropy."""
    return (_logit_gradient(block, coef, intercept, reference)[1],)


def loss_gradient(block, coef, intercept, reference):
    """``(loss, gradient)`` of the block; the gradient has shape ``(n_dof, k)``."""
    G, value = _logit_gradient(block, coef, intercept, reference)
    return value, _pull_back(block.X, G, intercept is not None)


def loss_gradient_kept(block, coef, intercept, reference):
    """``((loss, gradient), kept)`` with ``kept`` the weighted probabilities ``s_i p_i``."""
    xp = array_namespace(block.X)
    G, value = _logit_gradient(block, coef, intercept, reference)
    grad = _pull_back(block.X, G, intercept is not None)
    kept = G + xp.astype(_onehot(block, G.shape[1], xp), G.dtype) * block.weights[:, None]
    return (value, grad), kept


def hessp(block, kept, direction, direction_intercept):
    """``(H v,)`` of the block: ``X^T [s_i p_i * (r_i - <p_i, r_i>)]``, ``r_i = x_i V + v_b``."""
    xp = array_namespace(block.X)
    r = _logits(block, direction, direction_intercept)
    t = xp.sum(r * kept, axis=1, keepdims=True) * block.inv_weights[:, None]
    return (_pull_back(block.X, (r - t) * kept, direction_intercept is not None),)


def _wide_rows(block, mean, xp):
    """The block's rows in the wide dtype, less ``mean`` where given (``_centring``)."""
    X = xp.astype(block.X, _wide(xp, block.X))
    return X if mean is None else X - xp.astype(mean, X.dtype)


def hessian_diagonal(block, coef, intercept, reference, mean=None):
    """``(diag,)``: the block's Hessian diagonal ``(n_dof, k)``, squares in the wide dtype
    (of the rows less ``mean``, where given)."""
    xp = array_namespace(block.X)
    p, _ = softmax_rows(_logits(block, coef, intercept), reference, xp)
    wide = _wide(xp, p)
    h = xp.astype(p * (1 - p) * block.weights[:, None], wide)  # s_i p_ik (1 - p_ik)
    X = _wide_rows(block, mean, xp)
    return (_pull_back(X * X, h, intercept is not None),)


def second_moment(block, mean=None):
    """``(m,)`` with ``m_j = sum_i s_i (x_ij - mean_j)**2`` (wide dtype; ``mean`` 0 by default)."""
    xp = array_namespace(block.X)
    X = _wide_rows(block, mean, xp)
    return (xp.sum(X * X * xp.astype(block.weights, X.dtype)[:, None], axis=0),)


def feature_sum(block, origin=None):
    """``(sum_i s_i (x_i - origin), sum_i s_i)`` in the wide dtype, ``origin`` 0 by
    default (``_blocks.feature_sum``)."""
    xp = array_namespace(block.X)
    X = _wide_rows(block, origin, xp)
    s = xp.astype(block.weights, X.dtype)
    return xp.sum(X * s[:, None], axis=0), xp.sum(s)
