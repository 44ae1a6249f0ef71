"""The multinomial cross-entropy data term: value, gradient, Hessian-vector product.

The data term is the weighted *mean* cross-entropy

    L(w) = sum_i s_i * (logsumexp(z_i) - z_{i, y_i}) / sum_i s_i,
    z_i  = x_i @ W + b (+ o_i, a per-sample offset, where given),

or, with a target distribution ``t_i`` per sample (probability targets, label
smoothing), ``logsumexp(z_i) - <t_i, z_i>`` in place of the bracket: the same
cross-entropy, equal to it for one-hot targets.

i.e. the scikit-learn objective ``C * sum_i s_i CE_i + penalty`` divided by
``C * sum(s)``: the same minimiser, better conditioned and independent of the
number of samples. The coefficient vector ``w`` follows ``_layout``.

``SoftmaxLoss`` cuts the rows into blocks (``_blocks.Block``) once, and each
evaluation is an engine's (``_engine``) total of a pure block function over
them, so the ``n_samples x k`` working set never exceeds one block per thread,
for dense X (any memory order) and CSR X alike (CSC X, whose rows cannot be
sliced without a copy, is one block, or is copied to CSR where one block's logits
would take more memory than the copy), unless a caller asks to keep the
probabilities (``gradient_hessp`` for Newton's products,
``loss_gradient_probabilities`` for the stochastic solver's anchor).
"""

from typing import Protocol

import numpy as np
import scipy.sparse as sp

from . import _blocks
from ._engine import make_engine

# Rows per block are chosen so that one block of logits takes about this many
# bytes: large enough for efficient matrix products, small enough to stay in
# cache between the element-wise passes (benchmarks/results/notes.md).
_BLOCK_BYTES = 2**18
_MIN_BLOCK_ROWS = 256
# A sparse block's logits take at most this many bytes, whatever the rule for sparse rows
# in ``cut_blocks`` asks: at many classes that rule can put every row in one block, and a
# pass then holds n x k arrays (10,000 classes on a million rows: 80 GB in float64).
_MAX_SPARSE_BLOCK_BYTES = 2**28
# With more classes than this, the Hessian diagonal drifts from its value at 0
# during a fit, and quasi-Newton solvers should re-take it every so many
# iterations (benchmarks/results/notes.md).
_MANY_CLASSES = 32
_REFRESH_EVERY = 20


class DataTerm(Protocol):
    """What an objective needs of a data term (``SoftmaxLoss`` is one)."""

    dtype: np.dtype
    preconditioner_refresh: int | None

    def loss(self, w) -> float: ...
    def loss_gradient(self, w) -> tuple: ...
    def loss_gradient_probabilities(self, w) -> tuple: ...
    def gradient_hessp(self, w) -> tuple: ...
    def hessian_diagonal(self, w=None, mean=None) -> np.ndarray: ...
    def running(self): ...


class SoftmaxLoss:
    """Weighted mean cross-entropy of a linear softmax model on fixed data.

    A pure function of the coefficients: it holds the data, cut into blocks,
    and the engine that evaluates them, never a fitted state.

    Parameters
    ----------
    X : ndarray or scipy.sparse CSR/CSC matrix of shape (n_samples, n_features)
        float32 or float64; used as it is (no copy, no upcast).
    y : ndarray of int of shape (n_samples,), or of float of shape (n_samples, n_classes)
        Class index in ``0 .. n_classes - 1`` of each sample, or each sample's
        target distribution over the classes (rows of non-negative values
        summing to 1; validated by the caller).
    sample_weight : ndarray of shape (n_samples,)
        Finite non-negative weights with a positive maximum; normalised here.
    layout : _layout.Layout
        The coefficient layout.
    n_threads : int, default=1
        Threads that may evaluate blocks concurrently; fewer when the data
        spans fewer blocks.
    offset : ndarray of shape (n_samples, n_classes), default=None
        Added to each sample's logits (finite; validated by the caller).
    label_smoothing : float, default=0.0
        With class indices ``y``: the target is ``(1 - eps) * onehot + eps / K``.
    """

    # The per-block math (``_blocks``); a data term on another array library swaps in
    # its own functions of the same names (``_xp_loss``).
    block_functions = _blocks

    def __init__(
        self, X, y, sample_weight, layout, *, n_threads=1, offset=None, label_smoothing=0.0
    ):
        sw = np.asarray(sample_weight, dtype=np.float64)
        top = sw.max()  # no sum can overflow
        total = float((sw / top).sum())
        blocks, parts = cut_blocks(
            X, y, sw, layout, top, total, n_threads, offset=offset, label_smoothing=label_smoothing
        )
        self._hold(blocks, make_engine(parts), layout, X.dtype, offset is not None)

    @classmethod
    def on_blocks(cls, blocks, engine, layout, dtype, has_offset=False):
        """The data term of blocks cut elsewhere (``cut_blocks`` on each chunk of a
        Dask worker, say), evaluated by ``engine``."""
        self = cls.__new__(cls)
        self._hold(blocks, engine, layout, dtype, has_offset)
        return self

    def _hold(self, blocks, engine, layout, dtype, has_offset):
        self.layout, self.dtype = layout, np.dtype(dtype)
        self.blocks, self.engine = blocks, engine
        self.has_offset = has_offset

    @property
    def preconditioner_refresh(self):
        """Iterations between re-takes of the Hessian diagonal (None: keep the one at 0)."""
        return _REFRESH_EVERY if self.layout.n_classes > _MANY_CLASSES else None

    def running(self):
        """Context around a fit (the engine's: BLAS single-threaded under threads)."""
        return self.engine.running()

    def _coefficients(self, w):
        return (*self.layout.split(w, dtype=self.dtype), self.layout.reference)

    def loss(self, w):
        """The data term ``L(w)`` as a Python float."""
        return self.engine.reduce(self.block_functions.loss, self.blocks, *self._coefficients(w))[0]

    def loss_gradient(self, w):
        """``(L(w), grad L(w))``; the gradient is a flat float64 array."""
        f, g = self.engine.reduce(
            self.block_functions.loss_gradient, self.blocks, *self._coefficients(w)
        )
        return f, g.ravel()

    def loss_gradient_probabilities(self, w):
        """``(L(w), grad L(w), P)`` with ``P`` (n_samples, k), in X's dtype, each row's
        weighted probabilities ``s_i p_i(w)`` (the stochastic solver's anchor keeps
        them: ``_blocks.gradient_difference``)."""
        bounds = np.cumsum([0] + [block.X.shape[0] for block in self.blocks])
        probabilities = np.empty((bounds[-1], self.layout.k), dtype=self.dtype)
        rows = [probabilities[a:b] for a, b in zip(bounds[:-1], bounds[1:], strict=True)]
        f, g = self.engine.reduce(
            self.block_functions.loss_gradient_into, self.blocks, *self._coefficients(w), kept=rows
        )
        return f, g.ravel(), probabilities

    def gradient_hessp(self, w):
        """``(L(w), grad L(w), hessp)`` with ``hessp(v)`` the Hessian at ``w`` times ``v``.

        The weighted probabilities of ``w`` stay with the engine, one array per
        block (n_samples x k in all), for the products.
        """
        (f, g), kept = self.engine.reduce(
            self.block_functions.loss_gradient_kept, self.blocks, *self._coefficients(w), keep=True
        )

        def hessp(v):
            v_weights, v_intercept = self.layout.split(v, dtype=self.dtype)
            (hv,) = self.engine.reduce(
                self.block_functions.hessp, self.blocks, v_weights, v_intercept, kept=kept
            )
            return hv.ravel()

        return f, g.ravel(), hessp

    def feature_mean(self):
        """The rows' weighted mean (flat float64; NaN for sparse rows): a first estimate,
        then the mean of the differences from it added (``_blocks.feature_sum``, one more
        pass), so that a column constant over the weighted rows gets its value exactly,
        whatever the blocks (threads, Dask chunks, a device's) and zero-weight rows."""
        total, weight = self.engine.reduce(self.block_functions.feature_sum, self.blocks)
        first = np.asarray(total, dtype=np.float64).ravel() / float(weight)
        if not np.all(np.isfinite(first)):
            return first
        total, weight = self.engine.reduce(self.block_functions.feature_sum, self.blocks, first)
        return first + np.asarray(total, dtype=np.float64).ravel() / float(weight)

    def hessian_diagonal(self, w=None, mean=None):
        """Diagonal of the Hessian of ``L`` at ``w`` (flat, float64; ``None``: at 0).

        At ``w = 0`` every class has probability ``1/K``, which leaves
        ``(K - 1)/K**2 * sum_i s_i x_ij**2`` (and ``(K - 1)/K**2`` for the
        intercepts): one pass over X without products. Not with an offset: the
        probabilities at 0 are then the softmax of the offsets. With ``mean``
        (dense X), of the features less ``mean`` (``_centring``).
        """
        extra = () if mean is None else (mean,)
        if self.has_offset and w is None:
            w = self.layout.zeros()
        if w is not None and (np.any(w) or self.has_offset):
            (d,) = self.engine.reduce(
                self.block_functions.hessian_diagonal, self.blocks, *self._coefficients(w), *extra
            )
            return d.ravel()
        (moment,) = self.engine.reduce(self.block_functions.second_moment, self.blocks, *extra)
        K, layout = self.layout.n_classes, self.layout
        diagonal = np.ones((layout.n_dof, layout.k))
        diagonal[: layout.n_features] = moment[:, None]
        return (K - 1) / K**2 * diagonal.ravel()


def cut_blocks(X, y, weights, layout, top, total, n_threads=1, *, offset=None, label_smoothing=0.0):
    """``(blocks, parts)``: the rows of X cut into ``_blocks.Block`` s, in order, for
    ``parts`` threads.

    ``weights`` (float64) are the rows' ``s_i``, normalised here to
    ``weights / top / total`` in X's dtype, with ``top`` the largest weight and
    ``total`` the sum of ``weights / top`` over *all* rows, which may be more
    than these (a chunk of a larger data set). ``y``, ``offset`` and
    ``label_smoothing`` as for ``SoftmaxLoss``.
    """
    k = layout.k
    rows = max(_MIN_BLOCK_ROWS, _BLOCK_BYTES // (X.dtype.itemsize * max(k, 1)))
    if sp.issparse(X) and X.nnz:
        # Each block adds its X_b^T G, a dense n_features x k array, to the
        # gradient: blocks need at least n_features * k / (nnz per row) rows for
        # the products to outweigh that, within _MAX_SPARSE_BLOCK_BYTES.
        wanted = -(-X.shape[1] * k * X.shape[0] // X.nnz)
        rows = max(rows, min(wanted, _MAX_SPARSE_BLOCK_BYTES // (X.dtype.itemsize * max(k, 1))))
    n = X.shape[0]
    csc = sp.issparse(X) and X.format != "csr"
    if csc and n > rows and n * max(k, 1) * X.dtype.itemsize > array_bytes(X):
        X, csc = X.tocsr(), False  # one block's logits would outweigh a CSR copy of X
    parts = 1 if (n <= rows or csc) else max(1, min(int(n_threads), n // _MIN_BLOCK_ROWS))
    labels, s, inv = block_arrays(y, weights, layout, X.dtype, top=top, total=total)
    ref = int(layout.reference)
    targets = None
    if labels is None:  # target distributions: the stored columns, in X's dtype
        targets = np.ascontiguousarray(np.asarray(y)[:, ref:], dtype=X.dtype)
    offset = stored_offset(offset, layout, X.dtype)
    n_blocks = 1 if csc else parts * max(1, -(-n // (parts * rows)))
    bounds = np.linspace(0, n, n_blocks + 1).astype(int)
    blocks = [
        _blocks.Block(
            _rows(X, a, b),
            None if labels is None else labels[a:b],
            s[a:b],
            inv[a:b],
            None if targets is None else targets[a:b],
            float(label_smoothing),
            None if offset is None else offset[a:b],
        )
        for a, b in zip(bounds[:-1], bounds[1:], strict=True)
    ]
    return blocks, parts


def stored_offset(offset, layout, dtype):
    """A per-row offset's stored columns in ``dtype`` (None stays None): with a
    reference class only the difference to its offset moves the probabilities
    (the cross-entropy does not change when a row's logits all move)."""
    if offset is None:
        return None
    offset = np.asarray(offset, dtype=np.float64)
    if layout.reference:
        offset = offset[:, 1:] - offset[:, :1]
    return np.ascontiguousarray(offset, dtype=dtype)


def block_arrays(y, sample_weight, layout, dtype, *, top=None, total=None):
    """``(labels, s, inv)`` of every row: the stored-logit column of its class (-1 for the
    reference class; None when ``y`` holds target distributions), its weight divided by
    the total (in ``dtype``) and ``1 / s`` (0 where ``s`` is below ``dtype``'s smallest
    normal: such rows contribute nothing).

    ``top`` (the largest weight) and ``total`` (the sum of ``weights / top``) default to
    these rows'; a chunk of a larger data set passes the whole set's."""
    sw = np.asarray(sample_weight, dtype=np.float64)
    sw = sw / (sw.max() if top is None else top)  # no sum can overflow
    s = (sw / (sw.sum() if total is None else total)).astype(dtype)
    inv = np.divide(1.0, s, out=np.zeros_like(s), where=s > np.finfo(dtype).tiny)
    y = np.asarray(y)
    labels = None if y.ndim == 2 else (y - int(layout.reference)).astype(np.intp)
    return labels, s, inv


def array_bytes(X):
    """The memory of X's arrays (a sparse matrix's data, indices and pointers)."""
    if not sp.issparse(X):
        return X.nbytes
    return X.data.nbytes + X.indices.nbytes + X.indptr.nbytes


def _rows(X, start, stop):
    """Rows ``start:stop`` of X without a copy: a view, or a CSR sharing X's arrays."""
    if not sp.issparse(X):
        return X[start:stop]
    if X.format != "csr":
        return X
    lo, hi = X.indptr[start], X.indptr[stop]
    return sp.csr_matrix(
        (X.data[lo:hi], X.indices[lo:hi], X.indptr[start : stop + 1] - lo),
        shape=(stop - start, X.shape[1]),
    )
