"""The grouped lasso across classes: keep or drop each feature for every class at once.

``l2 / 2 * ||W||^2 + l1 * sum_j ||W_j||_2``, with ``W_j`` the ``k`` coefficients
of feature ``j`` (one row of the weights in ``_layout``'s flat order) and the
intercept row unpenalised: glmnet's ``type.multinomial = "grouped"`` (Friedman,
Hastie & Tibshirani, "Regularization paths for generalized linear models via
coordinate descent", J. Stat. Softw., 2010, section 4), with the strengths
scaled from ``C`` and ``l1_ratio`` as ``ElasticNet.from_C`` does. Its proximal
operator is group soft-thresholding, which sets whole rows exactly to zero. With
two classes (one free column) each group is one coefficient and this is the L1
norm.
"""

import numpy as np

from ._penalty import ElasticNet


class GroupLasso(ElasticNet):
    """``l2 / 2 * ||W||^2 + l1 * sum_j ||W_j||_2`` on the flat coefficients.

    Parameters
    ----------
    l2, l1 : float
        Non-negative strengths of the two terms.
    penalized : ndarray of bool
        The penalised entries of the flat coefficient vector, which taken in
        order and reshaped to ``(-1, group_size)`` give one group per row.
    group_size : int
        Entries per group (the free classes ``k``).
    """

    def __init__(self, l2, l1, penalized, group_size):
        super().__init__(l2, l1, penalized)
        self.group_size = int(group_size)

    @classmethod
    def from_C(cls, C, l1_ratio, sample_weight, penalized, group_size, scales=()):
        """The scaled penalty for ``C`` and ``l1_ratio``, as ``ElasticNet.from_C``."""
        base = ElasticNet.from_C(C, l1_ratio, sample_weight, penalized, scales)
        return cls(base.l2, base.l1, penalized, group_size)

    def _groups(self, v):
        return v[self.penalized].reshape(-1, self.group_size)

    def l1_value(self, w):
        return self.l1 * float(np.linalg.norm(self._groups(w), axis=1).sum())

    def prox(self, w, step):
        """Proximal operator of ``step * l1 * sum_j ||W_j||``: group soft-thresholding.

        ``step`` is a scalar or a flat array constant on each group (the metric
        ``diag(1 / step)``, in which the operator stays in closed form).
        """
        groups = self._groups(w)
        norms = np.linalg.norm(groups, axis=1)
        threshold = self._groups(np.broadcast_to(step, w.shape))[:, 0] * self.l1
        shrink = np.divide(
            np.maximum(norms - threshold, 0.0), norms, out=np.zeros_like(norms), where=norms > 0
        )
        out = w.copy()
        out[self.penalized] = (groups * shrink[:, None]).ravel()
        return out

    def min_norm_subgradient(self, w, grad_smooth):
        """The element of smallest norm in the subdifferential of the full objective:
        ``g_j + l1 W_j / ||W_j||`` on a non-zero group, ``g_j`` shrunk by ``l1`` in
        norm (to zero when ``||g_j|| <= l1``) on a zero group."""
        if not self.has_l1:
            return grad_smooth
        W, G = self._groups(w), self._groups(grad_smooth)
        w_norm = np.linalg.norm(W, axis=1, keepdims=True)
        g_norm = np.linalg.norm(G, axis=1, keepdims=True)
        at_zero = G * np.maximum(
            1.0 - np.divide(self.l1, g_norm, out=np.full_like(g_norm, np.inf), where=g_norm > 0),
            0.0,
        )
        away = G + self.l1 * np.divide(W, w_norm, out=np.zeros_like(W), where=w_norm > 0)
        out = grad_smooth.copy()
        out[self.penalized] = np.where(w_norm > 0, away, at_zero).ravel()
        return out
