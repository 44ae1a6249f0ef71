"""L-BFGS, and its orthant-wise extension OWL-QN for L1 / elastic net.

Without an L1 term this is L-BFGS (memory 10) with a backtracking Armijo line
search; the objective is convex, so every step keeps ``s^T y >= 0`` and the
curvature pairs stay valid without a Wolfe test. The initial inverse Hessian
of the two-loop recursion is ``gamma D^-1`` rather than ``gamma I``, with ``D``
the Hessian's diagonal at ``w = 0`` and ``gamma = s^T y / y^T D^-1 y`` (Nocedal
& Wright, 2nd ed., section 7.2): the iterates are those of L-BFGS on X with
every feature rescaled to the same curvature, without copying X. The first step
is ``-D^-1 g``. With ``refresh_every``, ``D`` is re-taken at the iterate every
that many iterations (one pass each; ``H0`` may change between iterations
without invalidating the curvature pairs), for objectives whose curvature
drifts away from its value at 0 (softmax with many classes); not from the
first iteration, where the iterate can sit where curvatures collapse.

With an L1 term it is OWL-QN (Andrew & Gao, "Scalable training of
L1-regularized log-linear models", ICML 2007): on the orthant of the current
iterate the L1 term is linear, so L-BFGS directions built from the smooth
gradient are applied to the minimum-norm subgradient, clipped to agree in sign
with it, and every trial point is projected back onto the orthant, which is
what produces exact zeros. Measurements behind these choices:
``benchmarks/results/notes.md``.
"""

from collections import deque

import numpy as np

from ._base import Monitor, backtrack, max_norm, orthant_wise

NEEDS = frozenset(
    {"fun_grad", "preconditioner", "eps", "has_l1", "penalized", "l1_value", "min_norm_subgradient"}
)
_MEMORY = 10
# The decrement pg.H pg / 2 of the two-loop H underestimated the suboptimality by
# 2-20x on 500 classes (its pairs miss the flattest directions), so the stopping
# rule and the report take it times this (benchmarks/results/defaults.md).
_ESTIMATE_SAFETY = 10.0


def _two_loop(v, pairs, diagonal):
    """L-BFGS inverse-Hessian approximation applied to ``v``, from ``H0 = gamma / diagonal``."""
    q = v.copy()
    alphas = []
    for s, y, rho in reversed(pairs):
        a = rho * float(s @ q)
        q -= a * y
        alphas.append(a)
    q /= diagonal
    if pairs:
        s, y, _ = pairs[-1]
        q *= float(s @ y) / float(y @ (y / diagonal))
    for (s, y, rho), a in zip(pairs, reversed(alphas), strict=True):
        b = rho * float(y @ q)
        q += (a - b) * s
    return q


def lbfgs(obj, x0, *, tol, max_iter, verbose=0, refresh_every=None, target=None, on_iteration=None):
    monitor = Monitor("owlqn" if obj.has_l1 else "lbfgs", tol, verbose, target, on_iteration)
    l1_mask = obj.penalized if obj.has_l1 else None
    x = np.array(x0, dtype=np.float64)
    f_s, g = obj.fun_grad(x)
    F = f_s + obj.l1_value(x)
    pg = obj.min_norm_subgradient(x, g)
    pairs = deque(maxlen=_MEMORY)
    diagonal = obj.preconditioner()
    # D is the curvature at 0: from a warm start elsewhere, q = D^-1 pg says nothing
    # of the suboptimality (it underestimated it 7x at the optimum of a 8x smaller C,
    # benchmarks/results/cv.md), so such a start does not stop before its first pair.
    blind = x.any() and monitor.needs_estimate
    trial = {}  # the gradient at the last trial point of the line search

    def value(x_new):
        f_new, trial["g"] = obj.fun_grad(x_new)
        return f_new + obj.l1_value(x_new)

    def flat_ok(x_new):
        return max_norm(obj.min_norm_subgradient(x_new, trial["g"])) < max_norm(pg)

    n_iter = 0
    for n_iter in range(1, max_iter + 1):
        q = None  # H pg, H the inverse-Hessian approximation; its decrement pg.q / 2 is free
        if monitor.gradient_small(pg):
            if monitor.needs_estimate:
                q = _two_loop(pg, pairs, diagonal)
            decrement = None if q is None else _ESTIMATE_SAFETY * 0.5 * float(pg @ q)
            if not (blind and not pairs) and monitor.converged(pg, F, decrement):
                n_iter -= 1
                break
        if refresh_every and n_iter > 1 and n_iter % refresh_every == 1:
            diagonal = obj.preconditioner(x)
            q = None
        if q is None:
            q = _two_loop(pg, pairs, diagonal)
        d, project = orthant_wise(l1_mask, x, pg, -q)
        if not d.any():
            d = -pg / diagonal
        accepted = backtrack(x, d, F, pg, project, value, flat_ok, obj.eps)
        if accepted is None:
            monitor.line_search_failed()
            break
        x_new, F = accepted
        g_new = trial["g"]
        s, y = x_new - x, g_new - g
        sy = float(s @ y)
        if sy > 1e-12 * float(y @ y):
            pairs.append((s, y, 1.0 / sy))
        x, g = x_new, g_new
        pg = obj.min_norm_subgradient(x, g)
        if monitor.record(n_iter, x, F, pg, max_norm(s)):
            break
    decrement = _ESTIMATE_SAFETY * 0.5 * float(pg @ _two_loop(pg, pairs, diagonal))
    return monitor.result(x, n_iter, pg, F, decrement)
