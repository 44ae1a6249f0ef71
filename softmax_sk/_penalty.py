"""Penalties on the weights: L2, L1, elastic net, none.

scikit-learn's objective is ``C * sum_i s_i CE_i + (1 - r)/2 ||W||^2 + r ||W||_1``
with ``r = l1_ratio``; divided by ``C * sum(s)`` (see ``_loss``), the penalty
becomes ``alpha * ((1 - r)/2 ||W||^2 + r ||W||_1)`` with ``alpha = 1 / (C sum(s))``.
``C = inf`` gives ``alpha = 0``: no penalty. The intercept row is never penalised.

A penalty is split into a smooth part (the L2 term: value, gradient, Hessian
diagonal), which solvers add to the data term, and a non-smooth part (the L1
term: value, proximal operator, minimum-norm subgradient), which only the
proximal / orthant-wise solvers see.
"""

import math

import numpy as np

# The largest penalty strength accepted (see ElasticNet.from_C).
_MAX_ALPHA = 1e300


class ElasticNet:
    """``l2 / 2 * ||W||^2 + l1 * ||W||_1`` on the flat coefficients, intercept excluded.

    Parameters
    ----------
    l2, l1 : float
        Non-negative strengths of the two terms.
    penalized : ndarray of bool
        Which entries of the flat coefficient vector are penalised.
    """

    def __init__(self, l2, l1, penalized):
        self.l2 = float(l2)
        self.l1 = float(l1)
        self.penalized = penalized

    @classmethod
    def from_C(cls, C, l1_ratio, sample_weight, penalized, scales=()):
        """The scaled scikit-learn penalty for ``C``, ``l1_ratio`` and the weights
        ``s = sample_weight`` times each of ``scales`` (whose product may overflow).

        ``alpha = 1 / (C * sum(s))`` is computed from the mantissas and exponents
        of its factors, so that neither ``sum(s)`` nor ``C * sum(s)`` can overflow
        or underflow on the way. An ``alpha`` above 1e300 raises a ``ValueError``:
        the optimal weights, about ``1 / alpha`` times the data's gradient, would
        fall below float64's normal range.
        """
        if np.isinf(C):
            return cls(0.0, 0.0, penalized)
        s_max = float(np.max(sample_weight))
        return cls.from_totals(
            C, l1_ratio, s_max, float(np.sum(sample_weight / s_max)), penalized, scales
        )

    @classmethod
    def from_totals(cls, C, l1_ratio, s_max, s_total, penalized, scales=()):
        """As ``from_C``, from the weights' maximum ``s_max`` and the sum ``s_total`` of
        ``sample_weight / s_max`` (computed where the weights are, e.g. on Dask workers)."""
        if np.isinf(C):
            return cls(0.0, 0.0, penalized)
        factors = [math.frexp(float(x)) for x in (C, *scales, s_max, s_total)]
        mantissa = math.prod(m for m, _ in factors)
        exponent = sum(e for _, e in factors)
        if math.log2(mantissa) + exponent < math.log2(1 / _MAX_ALPHA):
            log10_total = (math.log2(mantissa) + exponent) * math.log10(2)
            raise ValueError(
                f"C * sum(sample_weight) is 10^{log10_total:.1f} (C={C!r}), below 1e-300: "
                "the penalty would be over 1e300 times the data term and every coefficient "
                "too small to represent in float64. Use a larger C or larger sample weights; "
                "for a model of the class frequencies alone use "
                "sklearn.dummy.DummyClassifier(strategy='prior')."
            )
        alpha = math.ldexp(1.0 / mantissa, -exponent)
        return cls(alpha * (1.0 - l1_ratio), alpha * l1_ratio, penalized)

    @property
    def has_l1(self):
        return self.l1 > 0

    # -- smooth part (L2) -------------------------------------------------------
    def smooth_value(self, w):
        wp = w[self.penalized]
        return 0.5 * self.l2 * float(wp @ wp)

    def smooth_gradient(self, w):
        g = np.zeros_like(w)
        g[self.penalized] = self.l2 * w[self.penalized]
        return g

    def smooth_hessp(self, v):
        return self.smooth_gradient(v)

    # -- non-smooth part (L1) ---------------------------------------------------
    def l1_value(self, w):
        return self.l1 * float(np.abs(w[self.penalized]).sum())

    def prox(self, w, step):
        """Proximal operator of ``step * l1 * ||.||_1``: soft thresholding.

        ``step`` is a number or one step per entry of ``w`` (a preconditioned step).
        """
        out = w.copy()
        wp = w[self.penalized]
        step = np.broadcast_to(step, w.shape)[self.penalized]
        out[self.penalized] = np.sign(wp) * np.maximum(np.abs(wp) - step * self.l1, 0.0)
        return out

    def min_norm_subgradient(self, w, grad_smooth):
        """The element of smallest norm in the subdifferential of the full objective.

        ``grad_smooth`` is the gradient of the smooth part (data term + L2). This
        is zero exactly at a minimiser, so its max-norm is the stopping criterion
        for every solver (it equals the gradient when ``l1 == 0``).
        """
        if not self.has_l1:
            return grad_smooth
        g = grad_smooth.copy()
        wp, gp = w[self.penalized], grad_smooth[self.penalized]
        sub = np.where(
            wp > 0,
            gp + self.l1,
            np.where(
                wp < 0,
                gp - self.l1,
                np.sign(gp) * np.maximum(np.abs(gp) - self.l1, 0.0),
            ),
        )
        g[self.penalized] = sub
        return g
