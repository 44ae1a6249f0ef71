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

from ._base import Monitor, add_pair, backtrack, max_norm, orthant_wise, two_loop

NEEDS = frozenset(
    {"fun_grad", "preconditioner", "eps", "has_l1", "penalized", "l1_value", "min_norm_subgradient"}
)
_MEMORY = 10


def lbfgs(obj, x0, *, tol, max_iter, verbose=0, refresh_every=None):
    monitor = Monitor("owlqn" if obj.has_l1 else "lbfgs", tol, verbose)
    l1_mask = obj.penalized if obj.has_l1 else None
    x = np.array(x0, dtype=np.float64)
    f_s, g = obj.fun_grad(x)
    F = f_s + obj.l1_value(x)
    pg = obj.min_norm_subgradient(x, g)
    pairs = deque(maxlen=_MEMORY)
    diagonal = obj.preconditioner()
    trial = {}  # the gradient at the last trial point of the line search

    def value(x_new):
        f_new, trial["g"] = obj.fun_grad(x_new)
        return f_new + obj.l1_value(x_new)

    def flat_ok(x_new):
        return max_norm(obj.min_norm_subgradient(x_new, trial["g"])) < max_norm(pg)

    n_iter = 0
    for n_iter in range(1, max_iter + 1):
        if monitor.converged(pg):
            n_iter -= 1
            break
        if refresh_every and n_iter > 1 and n_iter % refresh_every == 1:
            diagonal = obj.preconditioner(x)
        d, project = orthant_wise(l1_mask, x, pg, -two_loop(pg, pairs, diagonal))
        if not d.any():
            d = -pg / diagonal
        accepted = backtrack(x, d, F, pg, project, value, flat_ok, obj.eps)
        if accepted is None:
            monitor.line_search_failed()
            break
        x_new, F = accepted
        g_new = trial["g"]
        s = x_new - x
        add_pair(pairs, s, g_new - g)
        x, g = x_new, g_new
        pg = obj.min_norm_subgradient(x, g)
        if monitor.record(n_iter, F, pg, max_norm(s)):
            break
    return monitor.result(x, n_iter, pg)
