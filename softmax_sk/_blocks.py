"""The cross-entropy data term of one block of rows, as pure functions.

Every function takes one block's arrays and the coefficients and returns the
block's partial sums; the data term (``_loss``) is their total over blocks. No
function sees another block or any whole-data array, so a thread, a process
holding only its own chunk, or an array-API device can run them, and only the
engine (``_engine``) differs.

A block is a ``Block``: its rows ``X`` (dense, any memory order, or CSR/CSC),
``labels`` (the stored-logit column of each row's class, -1 for the reference
class), ``weights`` ``s_i`` (already divided by the total, in X's dtype) and
``inv_weights`` ``1 / s_i`` (0 where ``s_i`` is 0). The coefficients come as
``coef`` (n_features, k) and ``intercept`` (k,) or None, in X's dtype (see
``_layout``). Partial gradients have the layout's shape ``(n_dof, k)``.

Per row, with probabilities ``p_i`` (of ``z_i = x_i W + b``) and a target
distribution ``t_i`` over the classes, the loss is the cross-entropy
``s_i (logsumexp(z_i) - <t_i, z_i>)``, its gradient in the logits
``s_i (p_i - t_i)``, and its Hessian in the logits ``s_i (diag(p_i) - p_i p_i^T)``
(``t_i`` sums to 1, so it does not enter the Hessian); the weights' parts are
``X^T`` of those, the intercepts' their column sums.

The target of a row is one of three representations, fixed per block:

* the one-hot ``e_{y_i}`` of its label (``labels``; the common case, done by the
  compiled kernel in one sweep);
* label smoothing ``(1 - eps) e_{y_i} + eps / K`` (``labels`` and ``smoothing``
  eps > 0), from the labels without an ``n x K`` target array;
* any distribution (``targets``: the stored columns of an ``(n, K)`` matrix of
  probabilities, ``labels`` None).

The last two take the kernel's softmax without its label step and finish the
target part in numpy. ``offset`` (the stored columns of a per-row offset, or
None) is added to the block's logits, like the data it is.

The loss is the cross-entropy ``-sum_k t_ik log p_ik``, not the KL divergence
from ``t_i`` (which subtracts the constant entropy of ``t_i``): for one-hot
targets both are scikit-learn's log-loss, and the minimiser is the same.
"""

from typing import NamedTuple

import numpy as np
import scipy.sparse as sp

from ._softmax import _hessian_rows_inplace, _softmax_inplace

# Rows of X squared at a time for the Hessian diagonal (bytes of X), so that
# squares are never a copy of a whole block.
SQUARE_BYTES = 2**18


class Block(NamedTuple):
    X: object
    labels: np.ndarray | None
    weights: np.ndarray
    inv_weights: np.ndarray
    targets: np.ndarray | None = None
    smoothing: float = 0.0
    offset: np.ndarray | None = None


def _pull_back(X, G, intercept):
    """``(n_dof, k)``: ``X^T G`` on top of ``sum_i G_i`` (the latter only with an intercept)."""
    n_features = X.shape[1]
    out = np.empty((n_features + (intercept is not None), G.shape[1]), dtype=G.dtype)
    if sp.issparse(X):
        out[:n_features] = X.T @ G
    else:
        np.matmul(X.T, G, out=out[:n_features])
    if intercept is not None:
        np.matmul(np.ones(G.shape[0], dtype=G.dtype), G, out=out[n_features])
    return out


def _logits(block, coef, out=None):
    """The block's stored logits without the intercept (added inside the softmax sweep),
    in ``out`` (n, k) when given."""
    if out is None:
        z = np.asarray(block.X @ coef)
    elif sp.issparse(block.X):
        z = out
        z[...] = block.X @ coef
    else:
        z = np.matmul(block.X, coef, out=out)
    if block.offset is not None:
        z += block.offset
    return z


def _logit_gradient(block, coef, intercept, reference, out=None):
    """``(G, loss)``: ``G = s_i (p_i - t_i)`` (the block's logits, overwritten; in ``out``
    when given) and the loss."""
    G = _logits(block, coef, out)
    if block.targets is None and not block.smoothing:  # one-hot: all in the kernel's sweep
        ce = _softmax_inplace(
            G, reference, scale=block.weights, bias=intercept, labels=block.labels
        )
    else:
        observed = _target_logits(block, G, intercept, reference)
        ce = _softmax_inplace(G, reference, scale=block.weights, bias=intercept)
        ce -= observed  # logsumexp(z_i) - <t_i, z_i>
        _add_targets(G, block, reference, -1.0)
    # summed in float64: a precise objective
    return G, float(np.dot(block.weights.astype(np.float64), ce.astype(np.float64)))


def _target_logits(block, z, intercept, reference):
    """``<t_i, z_i + b>`` per row (the reference class's logit is 0 and drops out)."""
    if block.targets is not None:
        out = np.einsum("ij,ij->i", z, block.targets)
        if intercept is not None:
            out += block.targets @ intercept
        return out
    # smoothing: (1 - eps) z_{i, y_i} + eps / K * sum_k z_ik
    eps, n_classes = block.smoothing, z.shape[1] + reference
    rows = np.flatnonzero(block.labels >= 0)
    observed = np.zeros(z.shape[0], dtype=z.dtype)
    observed[rows] = z[rows, block.labels[rows]]
    total = z @ np.ones(z.shape[1], dtype=z.dtype)
    if intercept is not None:
        observed[rows] += intercept[block.labels[rows]]
        total += intercept.sum()
    observed *= 1.0 - eps
    observed += (eps / n_classes) * total
    return observed


def _add_targets(G, block, reference, sign):
    """``G += sign * s_i t_i`` on the stored columns, in place."""
    s = block.weights
    if block.targets is not None:
        G += (sign * s)[:, None] * block.targets
        return
    eps = block.smoothing
    rows = np.flatnonzero(block.labels >= 0)
    G[rows, block.labels[rows]] += (sign * (1.0 - eps)) * s[rows]
    if eps:
        G += (sign * eps / (G.shape[1] + reference)) * s[:, None]


def loss(block, coef, intercept, reference):
    """``(loss,)``: the block's weighted cross-entropy."""
    return (_logit_gradient(block, coef, intercept, reference)[1],)


def loss_gradient(block, coef, intercept, reference):
    """``(loss, gradient)`` of the block; the gradient has shape ``(n_dof, k)``."""
    G, value = _logit_gradient(block, coef, intercept, reference)
    return value, _pull_back(block.X, G, intercept)


def loss_gradient_kept(block, coef, intercept, reference):
    """``((loss, gradient), kept)``: as ``loss_gradient``, and the weighted
    probabilities ``s_i p_i`` that ``hessp`` needs at these coefficients."""
    value, grad, kept = _with_probabilities(block, coef, intercept, reference)
    return (value, grad), kept


def loss_gradient_into(block, out, coef, intercept, reference):
    """``(loss, gradient)``, as ``loss_gradient``, writing the weighted probabilities
    ``s_i p_i`` into ``out`` (the block's rows of an (n, k) array in X's dtype): the
    stochastic solver's anchor keeps them for its steps (``gradient_difference``)."""
    return _with_probabilities(block, coef, intercept, reference, out)[:2]


def _with_probabilities(block, coef, intercept, reference, out=None):
    G, value = _logit_gradient(block, coef, intercept, reference, out=out)
    grad = _pull_back(block.X, G, intercept)
    _add_targets(G, block, reference, 1.0)  # G + s_i t_i = s_i p_i
    return value, grad, G


def gradient_difference(block, coef, intercept, kept_v, reference):
    """``(grad(w) - grad(v),)`` of the block, ``X^T [s_i (p_i(w) - p_i(v))]``, with
    ``kept_v`` the rows' ``s_i p_i(v)`` (``loss_gradient_kept``'s, in these weights):
    the targets are the same at both points and cancel, so SVRG's correction
    (``_stochastic``) costs one point's logits and one product back, with no labels
    and no loss."""
    G = weighted_probabilities(block, coef, intercept, reference)
    G -= kept_v
    return (_pull_back(block.X, G, intercept),)


def weighted_probabilities(block, coef, intercept, reference):
    """The block's rows' ``s_i p_i`` at these coefficients, (n, k) in X's dtype: the
    ``kept_v`` of ``gradient_difference`` where an anchor did not keep its own."""
    G = _logits(block, coef)
    _softmax_inplace(G, reference, scale=block.weights, bias=intercept)
    return G


def hessp(block, kept, direction, direction_intercept):
    """``(H v,)`` of the block, with ``kept`` from ``loss_gradient_kept``.

    ``H v = X^T [s_i p_i * (r_i - <p_i, r_i>)]`` with ``r_i = x_i V + v_b``; a
    reference class has ``r = 0`` and drops out of ``<p_i, r_i>``.
    """
    r = np.asarray(block.X @ direction)  # the intercept is added in the row sweep
    _hessian_rows_inplace(r, kept, block.inv_weights, direction_intercept)
    return (_pull_back(block.X, r, direction_intercept),)


def hessian_diagonal(block, coef, intercept, reference, mean=None):
    """``(diag,)``: the block's Hessian diagonal, ``(n_dof, k)``, float64.

    Weight ``(j, k)``: ``sum_i s_i p_ik (1 - p_ik) x_ij**2``; intercept ``k``:
    ``sum_i s_i p_ik (1 - p_ik)``. Squares are taken in float64 (a float32
    feature above 1.8e19 squares past float32's range). With ``mean`` (dense
    rows only), of ``x_ij - mean_j``: the diagonal in coordinates whose
    intercept sits at the features' mean (``_centring``).
    """
    X = block.X
    h = _logits(block, coef)
    _softmax_inplace(h, reference, bias=intercept)
    h *= 1 - h
    h *= block.weights[:, None]  # s_i p_ik (1 - p_ik)
    h = h.astype(np.float64, copy=False)
    out = np.zeros((X.shape[1] + (intercept is not None), h.shape[1]))
    out[: X.shape[1]] = _squares_times(X, h, mean)
    if intercept is not None:
        out[X.shape[1]] = h.sum(axis=0)
    return (out,)


def second_moment(block, mean=None):
    """``(m,)`` with ``m_j = sum_i s_i (x_ij - mean_j)**2`` (float64; ``mean`` 0 by
    default): the Hessian diagonal at 0, up to the factor ``(K - 1) / K**2``, with
    no logits."""
    return (_squares_times(block.X, block.weights.astype(np.float64)[:, None], mean)[:, 0],)


def feature_sum(block, origin=None):
    """``(sum_i s_i (x_i - origin), sum_i s_i)`` (float64), ``origin`` a vector shared by
    all blocks, or by default the block's first row (added back in float64): the
    rows' weighted mean is ``origin`` plus the ratio of the totals (``_loss``). The
    differences are taken in X's dtype a few rows at a time, so the sum is as exact as
    the spread allows where the mean is large against it (a float32 sum of a million
    rows of 1e4 + 0.01 noise was off by 12.6, this by 1e-8); a column constant over the
    weighted rows sums to exactly 0 from a shared origin within a unit of its value. A
    sparse block gives NaN: its rows are not centred."""
    X, s = block.X, block.weights
    weight = float(np.sum(s, dtype=np.float64))
    if sp.issparse(X):
        return np.full(X.shape[1], np.nan), weight
    shared = origin is not None
    if not shared:
        origin = X[0] if X.shape[0] else np.zeros(X.shape[1], X.dtype)
    total = np.zeros(X.shape[1])
    step = max(1, SQUARE_BYTES // max(1, X.itemsize * X.shape[1]))
    for a in range(0, X.shape[0], step):  # a few rows at a time: no copy of the block
        total += s[a : a + step] @ (X[a : a + step] - origin)
    return (total if shared else total + weight * origin.astype(np.float64)), weight


def _squares_times(X, h, mean=None):
    """``((X - mean)**2)^T h`` in float64: squares of a few dense rows at a time, or of a
    sparse block's stored values (sharing its indices; no ``mean``), never a copy of X."""
    if sp.issparse(X):
        if mean is not None:
            raise ValueError("a sparse block cannot be centred")
        squared = type(X)((np.square(X.data, dtype=np.float64), X.indices, X.indptr), X.shape)
        return np.asarray(squared.T @ h)
    out = np.zeros((X.shape[1], h.shape[1]))
    step = max(1, SQUARE_BYTES // max(1, 8 * X.shape[1]))
    for a in range(0, X.shape[0], step):
        if mean is None:
            squares = np.square(X[a : a + step], dtype=np.float64)
        else:  # float64, squared in place
            squares = np.subtract(X[a : a + step], mean)
            np.square(squares, out=squares)
        out += squares.T @ h[a : a + step]
    return out


def sampled_loss_gradient(block, coef, intercept, log_q, counts):
    """``(loss, gradient)`` of the sampled softmax over a few candidate classes.

    The candidates are the columns of ``coef`` (n_features, c) and ``intercept``
    (c,) or None; ``block.labels`` holds each row's own candidate (its class's
    column), ``log_q`` (c,) each candidate's log probability under the
    proposal and ``counts`` (c,) how many times the sample drew it. Row ``i``'s
    candidates are the multiset of its own class and the draws: class ``c``
    appears ``n_ic = counts_c + [c = own_i]`` times, and its logit becomes
    ``z_ic + log n_ic - log q_c`` (``-inf`` where ``n_ic = 0``: the other rows'
    classes are not its negatives). The softmax over those logits is the exact
    probability that the row's class is ``c`` given the multiset, so the
    loss's expected gradient vanishes where the model's probabilities are the
    true ones, for any proposal. A draw of the row's own class (an accidental
    hit) is not a negative: it adds to the own class's count. The gradient has
    shape ``(n_dof, c)``.
    """
    n = block.X.shape[0]
    rows = np.arange(n)
    z = np.asarray(block.X @ coef, dtype=coef.dtype)
    if intercept is not None:
        z += intercept
    n_ic = np.repeat(np.asarray(counts, dtype=z.dtype)[None, :], n, axis=0)
    n_ic[rows, block.labels] += 1
    with np.errstate(divide="ignore"):
        z += np.log(n_ic) - log_q.astype(z.dtype)
    shifted = z - z[rows, block.labels][:, None]  # finite: a row's own logit is
    top = shifted.max(axis=1, keepdims=True)
    G = np.exp(shifted - top)
    total = G.sum(axis=1, keepdims=True)
    ce = (np.log(total) + top)[:, 0]  # logsumexp minus the own logit
    G /= total
    G[rows, block.labels] -= 1
    G *= block.weights[:, None]
    value = float(np.dot(block.weights.astype(np.float64), ce.astype(np.float64)))
    return value, _pull_back(block.X, G, intercept)
