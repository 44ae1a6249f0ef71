"""Where each coefficient lives: the flat vector the solvers see, and ``coef_``/``intercept_``.

Conventions
-----------
The solvers work on one flat float64 vector ``w`` of length ``n_dof * k`` whose
C-ordered reshape to ``(n_dof, k)`` is

* rows ``0 .. n_features - 1``: the weights, one column per free class;
* row ``n_features`` (only with ``fit_intercept``): the intercepts.

``n_dof = n_features + fit_intercept``. With ``K`` classes there are ``k = K``
free classes, or ``k = K - 1`` with a *reference* class (class 0, logit fixed
at 0), which is how two classes are fitted: softmax with a reference class is
exactly logistic regression. The public ``coef_`` is the transpose of the weight
rows, ``(k, n_features)``, and ``intercept_`` the intercept row (zeros without
``fit_intercept``), as scikit-learn exposes them. Only the weight rows are
penalised.

This module is the one place that maps between the two; the estimator never
reshapes a flat vector, and computes logits of new data through ``logits``.
"""

from typing import NamedTuple

import numpy as np
import scipy.sparse as sp


class Layout(NamedTuple):
    """The coefficient layout of a softmax model (see the module docstring)."""

    n_features: int
    n_classes: int
    fit_intercept: bool

    @property
    def reference(self):
        """Whether class 0 is a reference class with its logit fixed at 0 (two classes)."""
        return self.n_classes == 2

    @property
    def k(self):
        """Free classes: the columns of the stored logits."""
        return self.n_classes - 1 if self.reference else self.n_classes

    @property
    def n_dof(self):
        return self.n_features + int(self.fit_intercept)

    @property
    def size(self):
        return self.n_dof * self.k

    def split(self, w, dtype=None):
        """Weights ``(n_features, k)`` and intercept ``(k,)`` or None: views of ``w`` when
        no ``dtype`` conversion is asked for."""
        w = np.asarray(w, dtype=dtype).reshape(self.n_dof, self.k)
        return w[: self.n_features], (w[self.n_features] if self.fit_intercept else None)

    def zeros(self):
        return np.zeros(self.size)

    def penalized(self):
        """Boolean mask of the penalised (weight) entries of ``w``."""
        mask = np.zeros((self.n_dof, self.k), dtype=bool)
        mask[: self.n_features] = True
        return mask.ravel()

    def pack(self, coef, intercept):
        """The flat float64 ``w`` of a model's ``coef_`` and ``intercept_``."""
        w = self.zeros()
        weights, bias = self.split(w)
        weights[...] = _dense(coef).T
        if bias is not None:
            bias[...] = intercept
        return w

    def unpack(self, w, dtype):
        """``(coef_, intercept_)`` of the flat ``w``, in ``dtype``."""
        weights, bias = self.split(w)
        coef = np.ascontiguousarray(weights.T, dtype=dtype)
        intercept = np.zeros(self.k, dtype=dtype) if bias is None else bias.astype(dtype)
        return coef, intercept

    def fits(self, coef, classes, new_classes):
        """Whether a fitted ``coef_``/``classes_`` has this layout's shape and classes."""
        return (
            coef is not None
            and np.shape(coef) == (self.k, self.n_features)
            and np.array_equal(classes, new_classes)
        )

    def logits(self, X, coef, intercept):
        """Logits of every class for new ``X``: ``(z, row_scale)``.

        ``z`` has shape ``(n_samples, n_classes)`` (a zero column for the
        reference class) and is finite for finite ``X``. Where the logits
        overflow (a feature of 1e308, or coefficients of 3e38 in float32), that
        row's are taken, in float64, for ``x / m`` and coefficients divided by
        ``c``, with ``m`` the row's and ``c`` the coefficients' largest magnitude;
        ``row_scale`` (float64, 1 elsewhere, possibly inf) holds ``m * c``: the
        true logits are ``row_scale[:, None] * z``, which ``_softmax`` scales and
        normalises without forming them. ``row_scale`` is None when no row
        overflowed.
        """
        with np.errstate(over="ignore", invalid="ignore"):
            z = _dense(X @ coef.T) + intercept  # coef_ may be sparse (sparsify())
        row_scale = None
        bad = ~np.isfinite(z).all(axis=1)
        if bad.any():
            rows = X[np.flatnonzero(bad)].astype(np.float64)
            if sp.issparse(rows):
                rows = rows.tocsr()
                m = abs(rows).max(axis=1).toarray().ravel()
                rows.data /= np.repeat(m, np.diff(rows.indptr))
            else:
                m = abs(rows).max(axis=1)
                rows /= m[:, None]
            W, b = np.asarray(_dense(coef), np.float64), np.asarray(intercept, np.float64)
            c = max(abs(W).max(initial=0.0), abs(b).max(initial=0.0))
            z[bad] = np.asarray(rows @ (W / c).T) + (b / c) / m[:, None]
            row_scale = np.ones(z.shape[0])
            with np.errstate(over="ignore"):
                row_scale[bad] = m * c
        if self.reference:
            z = np.column_stack([np.zeros_like(z), z])
        return z, row_scale

    def reference_params(self, coef, intercept, base):
        """The model's coefficients with class ``base``'s pinned at zero: ``(n_dof, n_classes)``.

        Softmax probabilities do not change when the same vector is added to
        every class's coefficients, so only differences between classes are
        identified (without a penalty). Subtracting class ``base``'s column gives
        the reference-class parameterisation that statsmodels' ``MNLogit`` and
        Stata's ``mlogit`` report: rows as in the flat layout (weights, then the
        intercept), one float64 column per class, column ``base`` zero. Two
        classes are stored that way already, with class 0 as reference.
        """
        weights = np.asarray(_dense(coef), np.float64).T  # (n_features, k)
        rows = [weights]
        if self.fit_intercept:
            rows.append(np.asarray(intercept, dtype=np.float64)[None, :])
        W = np.vstack(rows)
        if self.reference:
            W = np.column_stack([np.zeros(self.n_dof), W])
        return W - W[:, [base]]


def _dense(a):
    """``a`` as an ndarray: a sparse matrix (a ``coef_`` after ``sparsify()``, or the
    product of sparse X with it) is expanded."""
    return a.toarray() if sp.issparse(a) else np.asarray(a)
