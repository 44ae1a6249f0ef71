"""Proximal gradient with Barzilai-Borwein steps, for penalties known by their prox.

It minimises ``smooth(w) + l1_value(w)`` for any non-smooth term whose proximal
operator ``prox`` the objective provides: the grouped lasso across classes
(group soft-thresholding), or the elementwise L1. Each iteration is

    w+ = prox(w - D^-1 g / a, D^-1 / a),

a proximal gradient step in the metric ``a D``, with ``D`` the Hessian's
diagonal at 0 (constant on each group, so the prox stays in closed form) and
``a`` the Barzilai-Borwein estimate ``s^T y / s^T D s`` of the curvature along
the last step, doubled until the step decreases the objective by at least
``1e-4 * a / 2 * s^T D s``: SpaRSA (Wright, Nowak & Figueiredo, "Sparse
reconstruction by separable approximation", IEEE Trans. Signal Process., 2009)
with a monotone acceptance rule, so that the shared stall check applies. One
pass over the data per accepted trial (the gradient at the new point comes with
its value). Measurements: ``benchmarks/results/grouped.md``.
"""

import numpy as np

from ._base import Monitor, is_flat, max_norm

NEEDS = frozenset({"fun_grad", "preconditioner", "eps", "l1_value", "prox", "min_norm_subgradient"})
_SIGMA = 1e-4
_MAX_DOUBLINGS = 60


def proxgrad(obj, x0, *, tol, max_iter, verbose=0):
    monitor = Monitor("proxgrad", tol, verbose)
    x = np.array(x0, dtype=np.float64)
    f, g = obj.fun_grad(x)
    F = f + obj.l1_value(x)
    pg = obj.min_norm_subgradient(x, g)
    diagonal = obj.preconditioner()
    a = 1.0
    n_iter = 0
    for n_iter in range(1, max_iter + 1):
        if monitor.converged(pg):
            n_iter -= 1
            break
        for _ in range(_MAX_DOUBLINGS):
            step = 1.0 / (a * diagonal)
            x_new = obj.prox(x - step * g, step)
            s = x_new - x
            f_new, g_new = obj.fun_grad(x_new)
            F_new = f_new + obj.l1_value(x_new)
            pg_new = obj.min_norm_subgradient(x_new, g_new)
            decrease = _SIGMA * a / 2 * float(s @ (diagonal * s))
            if F_new <= F - decrease or (
                is_flat(F_new, F, obj.eps) and max_norm(pg_new) < max_norm(pg)
            ):
                break
            a *= 2.0
        else:
            monitor.line_search_failed()
            break
        sDs, sy = float(s @ (diagonal * s)), float(s @ (g_new - g))
        if sDs > 0 and sy > 0:
            a = min(max(sy / sDs, 1e-10), 1e10)
        x, g, F, pg = x_new, g_new, F_new, pg_new
        if monitor.record(n_iter, F, pg, max_norm(s)):
            break
    return monitor.result(x, n_iter, pg)
