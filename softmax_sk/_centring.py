"""Centred coordinates: the objective with the intercept moved to the features' mean.

The logits ``x W + b`` equal ``(x - m) W + (b + m W)`` for any vector ``m``, so
``u = (W, b + m W)`` describes the same model, and since the intercept is not
penalised the objective in ``u`` is the same function with centred features.
With ``m`` the rows' weighted mean, its Hessian has (nearly) no coupling between
the intercept and the weights, which on features whose mean is large against
their spread (raw counts, areas, pixel values) is what leaves a stochastic or
diagonally preconditioned method crawling along one narrow valley: ``fit(solver="sgd")``
on raw breast cancer data was 0.22 above the optimum after 20 epochs, 0.033 centred, and
``lbfgs`` took 825 iterations, 262 centred (``benchmarks/results/notes.md``). The
stochastic solver and the smooth batch solvers (``_estimator._objective``) step in ``u``.

``w = T u`` (the model's coordinates) is ``W``, ``b = u_b - m W``; gradients and
Hessian-vector products come back by ``T^T``. The penalty involves ``W`` only,
which both coordinates share, so its value, prox and subgradients are unchanged.
"""

import numpy as np


def feature_mean(loss, dense):
    """The rows' weighted mean (float64) that the data term ``loss`` holds, through its
    engine (``_blocks.feature_sum``; threads, Dask workers, a device), or None where
    centring does not apply: no intercept (``u`` would be ``w``), sparse rows (``dense``
    False: centred rows would be dense), a mean that is not finite or beyond the square
    root of the largest float (``m W`` could overflow)."""
    if not (dense and loss.layout.fit_intercept):
        return None
    with np.errstate(over="ignore", invalid="ignore"):
        mean = loss.feature_mean()
    limit = np.sqrt(np.finfo(np.float64).max)
    return mean if np.all(np.isfinite(mean)) and np.max(np.abs(mean)) <= limit else None


class Centred:
    """An ``_objective.Objective`` seen in centred coordinates ``u`` (see the module).

    It offers the objective's methods on ``u``; ``to_model`` and ``to_solver`` map
    points (and directions) between ``u`` and the model's ``w``. With ``mean`` None
    (``feature_mean``'s where centring does not apply) ``u`` is ``w``.
    """

    def __init__(self, obj, layout, mean):
        self.obj, self.layout, self.mean = obj, layout, mean
        self.eps, self.has_l1, self.has_l2 = obj.eps, obj.has_l1, obj.has_l2
        self.penalized, self.bounds = obj.penalized, obj.bounds

    @property
    def n_passes(self):
        return self.obj.n_passes

    def _moved(self, v, sign):
        """``v`` with ``sign * m W`` added to its intercept row."""
        if self.mean is None:
            return v
        v = np.array(v, dtype=np.float64).reshape(self.layout.n_dof, self.layout.k)
        W = v[: self.layout.n_features]
        v[self.layout.n_features] += sign * (self.mean @ W)
        return v.ravel()

    def to_model(self, u):
        """``w = T u``: the intercept less ``m W``."""
        return self._moved(u, -1.0)

    def to_solver(self, w):
        """``u = T^-1 w``: the intercept plus ``m W``."""
        return self._moved(w, 1.0)

    def _spread(self, v, factor):
        """``v`` with ``factor`` times the outer product of ``m`` and its intercept row
        added to its weights' rows."""
        if self.mean is None:
            return v
        v = np.array(v, dtype=np.float64).reshape(self.layout.n_dof, self.layout.k)
        v[: self.layout.n_features] += np.outer(factor, v[self.layout.n_features])
        return v.ravel()

    def pull(self, g):
        """``T^T g``: a gradient in the model's coordinates as one in ``u``'s (the
        weights' rows less ``m`` times the intercept row)."""
        return g if self.mean is None else self._spread(g, -self.mean)

    def push(self, g):
        """``T^-T g``: a gradient in ``u``'s coordinates as one in the model's."""
        return g if self.mean is None else self._spread(g, self.mean)

    def solver_pair(self, pair):
        """A curvature pair ``(s, y, 1 / s.y)`` of the model's coordinates in ``u``'s."""
        s, y, rho = pair
        return self.to_solver(s), self.pull(y), rho

    def gradient_norm(self, pg):
        """The max-norm of the model's gradient (what ``tol`` bounds), from ``u``'s
        gradient ``pg``: exact without an L1 term (``_estimator`` centres only then)."""
        return self.obj.gradient_norm(self.push(pg))

    def model_subgradient(self, u, g, pg):
        """The minimum-norm subgradient in the model's coordinates, from ``u``'s gradient
        ``g`` and subgradient ``pg`` (the stopping rule's: ``tol`` is of the model's)."""
        return pg if self.mean is None else self.obj.min_norm_subgradient(u, self.push(g))

    def model_diagonal(self, diagonal):
        """A Hessian diagonal in the model's coordinates from one in ``u``'s: that of
        ``T^-T D T^-1``, the weights' entries plus ``m**2`` times their intercept's."""
        return diagonal if self.mean is None else self._spread(diagonal, self.mean**2)

    def model_inverse(self, inverse):
        """``v -> T M T^T v``: an inverse Hessian estimate ``M`` of ``u``'s coordinates
        (a function) as one of the model's (the same Newton-CG iterates there)."""
        if self.mean is None:
            return inverse
        return lambda v: self.to_model(inverse(self.pull(v)))

    def fun(self, u):
        return self.obj.fun(self.to_model(u))

    def fun_grad(self, u):
        f, g = self.obj.fun_grad(self.to_model(u))
        return f, self.pull(g)

    def fun_grad_probabilities(self, u):
        f, g, probabilities = self.obj.fun_grad_probabilities(self.to_model(u))
        return f, self.pull(g), probabilities

    def fun_grad_hessp(self, u):
        f, g, hessp = self.obj.fun_grad_hessp(self.to_model(u))
        return f, self.pull(g), lambda v: self.pull(hessp(self.to_model(v)))

    def preconditioner(self, u=None):
        """The Hessian diagonal in ``u``: that of the centred features."""
        return self.obj.preconditioner(None if u is None else self.to_model(u), mean=self.mean)

    def l1_value(self, u):
        return self.obj.l1_value(u)

    def prox(self, u, step):
        return self.obj.prox(u, step)

    def min_norm_subgradient(self, u, grad_smooth):
        return self.obj.min_norm_subgradient(u, grad_smooth)
