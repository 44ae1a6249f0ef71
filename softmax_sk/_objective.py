"""The penalised objective as the callables the solvers take.

It joins a data term (``_loss.SoftmaxLoss``), a penalty
(``_penalty.ElasticNet`` or ``_penalty_group.GroupLasso``) and, optionally, box
constraints on the coefficients (``_bounds``): the *smooth* part is the data
term plus the L2 term; the L1 term, if any, is left to the solvers that handle
it (``l1_value``, ``prox``, ``min_norm_subgradient``), and so are the bounds.
It also counts data passes, the cost unit the benchmarks report: one
``fun_grad`` or ``fun`` is one pass, one Hessian-vector product is one pass.
It satisfies ``_solvers.Objective``.
"""

import numpy as np

from . import _bounds


class Objective:
    def __init__(self, loss, penalty, bounds=None):
        self.loss = loss
        self.penalty = penalty
        self.bounds = bounds  # (lower, upper) flat float64 arrays, or None
        self.n_passes = 0
        # Relative precision of objective values: the per-row losses are computed in
        # X's dtype (their float64 sum adds no error of its own).
        self.eps = float(np.finfo(loss.dtype).eps)
        self.has_l1 = penalty.has_l1
        self.has_l2 = penalty.l2 > 0
        self.penalized = penalty.penalized  # mask of the penalised entries of w

    def fun(self, w):
        """Smooth objective value only (a cheaper pass: no gradient product)."""
        self.n_passes += 1
        return self.loss.loss(w) + self.penalty.smooth_value(w)

    def fun_grad(self, w):
        """Smooth objective and its gradient (float64, flat)."""
        self.n_passes += 1
        f, g = self.loss.loss_gradient(w)
        return f + self.penalty.smooth_value(w), g + self.penalty.smooth_gradient(w)

    def fun_grad_probabilities(self, w):
        """Smooth objective, gradient, and the data term's weighted probabilities at ``w``
        (``SoftmaxLoss.loss_gradient_probabilities``)."""
        self.n_passes += 1
        f, g, probabilities = self.loss.loss_gradient_probabilities(w)
        return f + self.penalty.smooth_value(w), g + self.penalty.smooth_gradient(w), probabilities

    def fun_grad_hessp(self, w):
        """Smooth objective, gradient, and a Hessian-vector product at ``w``."""
        self.n_passes += 1
        f, g, data_hessp = self.loss.gradient_hessp(w)

        def hessp(v):
            self.n_passes += 1
            return data_hessp(v) + self.penalty.smooth_hessp(v)

        return f + self.penalty.smooth_value(w), g + self.penalty.smooth_gradient(w), hessp

    def preconditioner(self, w=None, mean=None):
        """Diagonal of the smooth objective's Hessian at ``w`` (default 0; one pass; flat);
        with ``mean``, in coordinates that centre the features on it (``_centring``)."""
        self.n_passes += 1
        diagonal = (
            self.loss.hessian_diagonal(w) if mean is None else self.loss.hessian_diagonal(w, mean)
        )
        diagonal[self.penalized] += self.penalty.l2
        # A zero entry (an all-zero feature without L2) has a zero gradient too and
        # never moves; any positive scale keeps the division defined.
        diagonal[~(diagonal > 0)] = 1.0
        return diagonal

    def l1_value(self, w):
        return self.penalty.l1_value(w)

    def gradient_norm(self, pg):
        """The max-norm of a (minimum-norm sub)gradient: what ``tol`` bounds."""
        return float(np.max(np.abs(pg), initial=0.0))

    def prox(self, w, step):
        return self.penalty.prox(w, step)

    def min_norm_subgradient(self, w, grad_smooth):
        """The minimum-norm element of the subdifferential of the objective plus the
        indicator of the box ``bounds`` (an elementwise penalty there)."""
        if self.bounds is None:
            return self.penalty.min_norm_subgradient(w, grad_smooth)
        l1 = np.where(self.penalized, self.penalty.l1, 0.0)
        return _bounds.min_norm_subgradient(w, grad_smooth, l1, *self.bounds)
