"""The multinomial cross-entropy data term: value, gradient, Hessian-vector product.

Conventions
-----------
The coefficients are one flat vector ``w`` of length ``n_dof * k`` whose
C-ordered reshape to ``(n_dof, k)`` is

* rows ``0 .. n_features - 1``: the weights, one column per free class;
* row ``n_features`` (only when ``fit_intercept``): the intercepts.

``n_dof = n_features + fit_intercept``. With ``K`` classes there are ``k = K``
free classes, or ``k = K - 1`` with a *reference* class (class 0, logit fixed
at 0), which is how a two-class problem is fitted: softmax with a reference
class is exactly logistic regression. The estimator's ``coef_`` is the
transpose of the weight rows.

The data term is the weighted *mean* cross-entropy

    L(w) = sum_i s_i * (logsumexp(z_i) - z_{i, y_i}) / sum_i s_i,
    z_i  = x_i @ W + b,

i.e. the scikit-learn objective ``C * sum_i s_i CE_i + penalty`` divided by
``C * sum(s)``: the same minimiser, better conditioned and independent of the
number of samples.

Everything is evaluated over blocks of rows whose partial sums are added, so
the ``n_samples x k`` working set never exceeds one block, for dense X (any
memory order) and scipy sparse CSR X alike (CSC X is evaluated as one block).
"""

import contextlib
import functools
import os
from concurrent.futures import ThreadPoolExecutor
from itertools import pairwise

import numpy as np
import scipy.sparse as sp
from threadpoolctl import threadpool_limits

from ._softmax import _hessian_rows_inplace, _softmax_inplace

# Rows per block are chosen so that one block of logits takes about this many
# bytes: large enough for efficient matrix products, small enough to stay in
# cache between the element-wise passes (benchmarks/bench_eval.py: 256 KiB of
# float64 beat 1 MiB by 5-20% with two threads; float32 blocks of 256 KiB
# rather than 128 KiB made a two-thread evaluation on 16000 x 100, K=10 18%
# faster).
_BLOCK_BYTES = 2**18
_MIN_BLOCK_ROWS = 256


def default_threads(X, n_classes):
    """Threads a fit uses by default (``n_jobs=None``): one per core where they pay.

    Threads run the element-wise work (softmax, weighting) of different row
    blocks at once, with BLAS single-threaded in each; one thread leaves the
    dense products to BLAS's own threads. They pay where the element-wise or
    sparse work is heavy next to the dense products: more than 32 classes, or
    sparse X (scipy's sparse products use one core). Elsewhere one thread is
    as fast for fits run back to back and clearly faster for a fit that
    follows other BLAS work, as every fit in a cross-validation does (the
    scoring's products leave OpenBLAS's threads spinning, competing with the
    fit's): ``python benchmarks/bench_threads.py --scale 0.2``,
    ``benchmarks/results/threads.md``.
    """
    heavy = sp.issparse(X) or n_classes > 32
    return (os.cpu_count() or 1) if heavy else 1


@functools.cache
def _executor(n_threads):
    return ThreadPoolExecutor(max_workers=n_threads, thread_name_prefix="softmax_sk")


class SoftmaxLoss:
    """Weighted mean cross-entropy of a linear softmax model on fixed data.

    A pure function of the coefficients: the object only holds the data and
    the layout (see the module docstring), never a fitted state.

    Parameters
    ----------
    X : ndarray or scipy.sparse CSR matrix of shape (n_samples, n_features)
        float32 or float64; used as it is (no copy, no upcast).
    y : ndarray of int of shape (n_samples,)
        Class index in ``0 .. n_classes - 1`` of each sample.
    n_classes : int
        Number of classes, at least 2.
    sample_weight : ndarray of shape (n_samples,)
        Non-negative weights with a positive sum; normalised internally.
    fit_intercept : bool
        Whether the last coefficient row is an intercept.
    reference : bool
        Whether class 0 is a reference class with logits fixed at 0.
    n_threads : int, default=1
        Threads that evaluate row blocks concurrently (NumPy releases the GIL
        in its element-wise kernels); at most one per block. Use ``threading()``
        around a fit so that BLAS runs single-threaded inside each of them.
    """

    def __init__(self, X, y, n_classes, sample_weight, *, fit_intercept, reference, n_threads=1):
        self.dtype = X.dtype
        self.n_features = X.shape[1]
        self.fit_intercept = fit_intercept
        self.reference = reference
        self.n_classes = n_classes
        self.k = n_classes - 1 if reference else n_classes
        self.n_dof = self.n_features + int(fit_intercept)
        self.size = self.n_dof * self.k

        rows = max(_MIN_BLOCK_ROWS, _BLOCK_BYTES // (X.dtype.itemsize * max(self.k, 1)))
        if sp.issparse(X) and X.nnz:
            # Each block adds its X_b^T G, a dense n_features x k array, to the
            # gradient: blocks need at least n_features * k / (nnz per row) rows for
            # the products to outweigh that (80000 x 50000 CSR, K=20: 1638-row
            # blocks made a pass as slow as scikit-learn's).
            rows = max(rows, -(-self.n_features * self.k * X.shape[0] // X.nnz))
        n = X.shape[0]
        # Each thread gets an equal, contiguous share of the rows, cut into blocks.
        self.n_threads = 1 if n <= rows else max(1, min(int(n_threads), n // _MIN_BLOCK_ROWS))
        if sp.issparse(X) and X.format != "csr":
            self.n_threads = 1
        bounds = np.linspace(0, n, self.n_threads + 1).astype(int)
        self.shares = [_row_blocks(X, a, b, rows) for a, b in pairwise(bounds)]
        self.blocks = [block for share in self.shares for block in share]
        sw = np.asarray(sample_weight, dtype=np.float64)
        self.sw = (sw / sw.sum()).astype(self.dtype)
        tiny = np.finfo(self.dtype).tiny  # rows weighted below it contribute nothing
        self.inv_sw = np.divide(1.0, self.sw, out=np.zeros_like(self.sw), where=self.sw > tiny)
        # Column of the observed class in the stored logits; -1 for the reference.
        self.col = (np.asarray(y) - int(reference)).astype(np.intp)

    def threading(self):
        """Context for a fit: with several threads, BLAS is limited to one per thread."""
        if self.n_threads > 1:
            return threadpool_limits(limits=1, user_api="blas")
        return contextlib.nullcontext()

    def _map(self, fn):
        """``[fn(blocks) for each thread's share of the blocks]``, run concurrently."""
        if self.n_threads == 1:
            return [fn(self.blocks)]
        return list(_executor(self.n_threads).map(fn, self.shares))

    # -- layout -----------------------------------------------------------------
    def split(self, w):
        """Weights (n_features, k) and intercept (k,) or None, as views of ``w``."""
        w = np.asarray(w).reshape(self.n_dof, self.k)
        return w[: self.n_features], (w[-1] if self.fit_intercept else None)

    def _observed(self, b):
        """Rows of block ``b`` whose class is stored, and their flat indices in its logits."""
        col = self.col[b]
        rows = np.flatnonzero(col >= 0) if self.reference else np.arange(col.size)
        return rows, rows * self.k + col[rows]

    def _weights(self, w):
        return self.split(np.asarray(w, dtype=self.dtype))

    def _accumulate(self, grad, Xb, G):
        """Add the block's contribution ``X_b^T G`` (and ``sum G``) to ``grad``."""
        gw, gb = self.split(grad)
        gw += np.asarray(Xb.T @ G)
        if gb is not None:
            gb += np.ones(G.shape[0], dtype=G.dtype) @ G

    def _block(self, weights, intercept, b, Xb, keep_probabilities=False):
        """``(G, loss_b, Q)`` of the block of rows ``b``.

        ``G = s_i (p_i - e_{y_i})`` is the gradient of the loss in the block's
        logits; ``Q = s_i p_i`` (a copy) is given only when asked for. Callers
        drop ``G`` before the next block's, so that one block of logits per
        thread is alive at a time (with 1000 classes, 2 MiB each in float64).
        """
        z = np.asarray(Xb @ weights)  # the intercept is added inside the softmax
        s = self.sw[b]
        # z becomes s_i (p_i - e_{y_i}), one sweep with the cross-entropy
        ce = _softmax_inplace(z, self.reference, scale=s, bias=intercept, labels=self.col[b])
        Q = None
        if keep_probabilities:
            rows, flat = self._observed(b)
            Q = z.copy()
            Q.ravel()[flat] += s[rows]
        # summed in float64: a precise objective
        return z, float(np.dot(s.astype(np.float64), ce.astype(np.float64))), Q

    # -- value and gradient ----------------------------------------------------
    def loss(self, w):
        """The data term ``L(w)`` as a Python float."""
        weights, intercept = self._weights(w)

        def share(blocks):
            return sum(self._block(weights, intercept, b, Xb)[1] for b, Xb in blocks)

        return sum(self._map(share))

    def loss_gradient(self, w):
        """``(L(w), grad L(w))``; the gradient is a flat float64 array.

        Per row, with probabilities ``p_i`` and one-hot ``e_{y_i}``, the
        gradient of the logits is ``s_i (p_i - e_{y_i})``; the weights' gradient
        is ``X^T`` of that, the intercepts' its column sum.
        """

        weights, intercept = self._weights(w)

        def share(blocks):
            loss, grad = 0.0, np.zeros(self.size, dtype=self.dtype)
            for b, Xb in blocks:
                G, block_loss, _ = self._block(weights, intercept, b, Xb)
                loss += block_loss
                self._accumulate(grad, Xb, G)
                del G
            return loss, grad

        parts = self._map(share)
        grad = _total([g for _, g in parts])
        return sum(f for f, _ in parts), grad

    def hessian_diagonal(self, w=None):
        """Diagonal of the Hessian of ``L`` at ``w`` (flat, float64; ``None``: at 0).

        The entry of weight ``(j, k)`` is ``sum_i s_i p_ik (1 - p_ik) x_ij**2``
        and that of intercept ``k`` is ``sum_i s_i p_ik (1 - p_ik)``. At
        ``w = 0`` every class has probability ``1/K``, which leaves
        ``(K - 1)/K**2 * sum_i s_i x_ij**2``: one pass over X without products.
        Elsewhere it is one pass of logits, softmax and the product of the
        squared entries of X with ``s_i p_ik (1 - p_ik)``; squared entries are
        formed a few rows at a time, never as a copy of X.
        """
        if w is None or not np.any(w):
            return self._hessian_diagonal_at_zero()
        weights, intercept = self._weights(w)

        def share(blocks):
            out = np.zeros((self.n_dof, self.k))
            for b, Xb in blocks:
                h = np.asarray(Xb @ weights)
                _softmax_inplace(h, self.reference, bias=intercept)
                h *= 1 - h
                h *= self.sw[b][:, None]  # s_i p_ik (1 - p_ik)
                if sp.issparse(Xb):
                    out[: self.n_features] += np.asarray(Xb.power(2).T @ h)
                else:
                    step = max(1, _BLOCK_BYTES // max(1, Xb.itemsize * Xb.shape[1]))
                    for a in range(0, Xb.shape[0], step):
                        rows = Xb[a : a + step]
                        out[: self.n_features] += np.square(rows).T @ h[a : a + step]
                if self.fit_intercept:
                    out[self.n_features] += h.sum(axis=0)
                del h
            return out

        return _total(self._map(share)).ravel()

    def _hessian_diagonal_at_zero(self):
        n_classes = self.n_classes
        second_moment = np.zeros(self.n_features)
        for b, Xb in self.blocks:
            s = self.sw[b]  # in X's dtype: no upcast copy of the block
            if sp.issparse(Xb):  # CSR blocks, or CSC X as one block
                csr = Xb.format == "csr"
                outer = np.repeat(np.arange(Xb.shape[1 - csr]), np.diff(Xb.indptr))
                rows, cols = (outer, Xb.indices) if csr else (Xb.indices, outer)
                values = Xb.data.astype(np.float64) ** 2 * s[rows]
                second_moment += np.bincount(cols, values, minlength=self.n_features)
            else:
                second_moment += np.einsum("i,ij,ij->j", s, Xb, Xb)
        diagonal = np.empty((self.n_dof, self.k))
        diagonal[: self.n_features] = second_moment[:, None]
        diagonal[self.n_features :] = 1.0
        return (n_classes - 1) / n_classes**2 * diagonal.ravel()

    # -- second order ----------------------------------------------------------
    def gradient_hessp(self, w):
        """``(L(w), grad L(w), hessp)`` with ``hessp(v)`` the Hessian at ``w`` times ``v``.

        Per row, the Hessian of the loss in the logits is
        ``s_i (diag(p_i) - p_i p_i^T)``, so with ``r_i = x_i @ V + v_b``,

            H v = X^T [ s_i * p_i * (r_i - <p_i, r_i>) ]   (element-wise in the class),

        and the intercept part is the column sum of the bracket. The reference
        class, if any, has ``r = 0`` and drops out of ``<p_i, r_i>``. The
        weighted probabilities ``s_i p_i`` of the current ``w`` are kept
        (n_samples x k) for the products.
        """
        kept = {}  # block start -> s_i p_i of that block
        weights, intercept = self._weights(w)

        def share(blocks):
            loss, grad = 0.0, np.zeros(self.size, dtype=self.dtype)
            for b, Xb in blocks:
                G, block_loss, kept[b.start] = self._block(weights, intercept, b, Xb, True)
                loss += block_loss
                self._accumulate(grad, Xb, G)
                del G
            return loss, grad

        parts = self._map(share)

        def hessp(v):
            vw, vb = self._weights(v)

            def share(blocks):
                out = np.zeros(self.size, dtype=self.dtype)
                for b, Xb in blocks:
                    r = np.asarray(Xb @ vw)  # the intercept is added in the row sweep
                    _hessian_rows_inplace(r, kept[b.start], self.inv_sw[b], vb)
                    self._accumulate(out, Xb, r)
                    del r
                return out

            return _total(self._map(share))

        grad = _total([g for _, g in parts])
        return sum(f for f, _ in parts), grad, hessp


def _total(parts):
    """The float64 sum of the threads' partial arrays, added in place.

    ``np.sum(parts, axis=0)`` would first stack them: one more array of each
    per thread (with 1000 classes, each is the size of the coefficients).
    """
    total = np.asarray(parts[0], dtype=np.float64)  # a thread's own buffer, or a copy
    for part in parts[1:]:
        total += part
    return total


def _row_blocks(X, start, stop, rows):
    """``[(slice, X[slice]), ...]``: rows ``start:stop`` in near-equal blocks of at most ``rows``.

    Dense blocks are views; a CSR block shares the parent's data and indices.
    CSC X, whose rows cannot be sliced without a copy, is one block.
    """
    if sp.issparse(X) and X.format != "csr":
        return [(slice(0, X.shape[0]), X)]
    n_blocks = max(1, -(-(stop - start) // rows))
    bounds = np.linspace(start, stop, n_blocks + 1).astype(int)
    out = []
    for a, c in pairwise(bounds):
        b = slice(int(a), int(c))
        if sp.issparse(X):
            lo, hi = X.indptr[b.start], X.indptr[b.stop]
            Xb = sp.csr_matrix(
                (X.data[lo:hi], X.indices[lo:hi], X.indptr[b.start : b.stop + 1] - lo),
                shape=(b.stop - b.start, X.shape[1]),
            )
        else:
            Xb = X[b]
        out.append((b, Xb))
    return out
