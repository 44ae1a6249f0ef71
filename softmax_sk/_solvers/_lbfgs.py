"""L-BFGS, and its orthant-wise extension OWL-QN for L1 / elastic net.

Needs: ``fun_grad`` and ``preconditioner``; with an L1 term also ``l1_value``,
``min_norm_subgradient`` and ``penalized``.

Without an L1 term this is L-BFGS (memory 10) with a backtracking Armijo line
search; the objective is convex, so every step keeps ``s^T y >= 0`` and the
curvature pairs stay valid without a Wolfe test. The initial inverse Hessian
of the two-loop recursion is ``gamma D^-1`` rather than ``gamma I``, with ``D``
the Hessian's diagonal at ``w = 0`` (``Objective.preconditioner``) and
``gamma = s^T y / y^T D^-1 y`` (Nocedal & Wright, 2nd ed., section 7.2): the
iterates are then exactly those of L-BFGS on X with every feature rescaled to
the same curvature, without copying X. The first step is ``-D^-1 g``, a Newton
step for the diagonal at 0. On the benchmark's 8000 x 784 problem (feature
scales 0.2 to 1.5) this took 45 passes to 1e-6 suboptimality instead of 96,
on the 16000 x 10000 CSR problem 18 instead of 48.

At ``w = 0`` every class has the same curvature, ``(K - 1)/K**2`` times the
feature's second moment; away from it class ``k`` has
``sum_i s_i p_ik (1 - p_ik) x_ij**2``, which with many classes varies with the
class's frequency and with how confidently it is predicted. With more than
``_MANY_CLASSES`` classes ``D`` is therefore recomputed at the current
iterate every ``_REFRESH`` iterations (one pass each; ``H0`` may change
between iterations without invalidating the curvature pairs). On 8000 x 100,
K=995 the objective came within 1e-6 of the optimum after 63 evaluations
instead of 101 (refreshing every 5 or 10 iterations: 66-69), and
``benchmarks/bench_fit.py`` timed 80 passes where it had 113 (the loosest
``tol`` that gets there, 1e-6, stops later); on weakly penalised 40-class
problems (3000 x 12, C=1e4 or inf) in 188-1280 iterations to ``tol=1e-9``
where the diagonal at 0 needed 305 to more than 3000. Not from the first
iterations: there the iterate can sit where probabilities saturate, entries of
``D`` fall to 1e-5 of their value at 0, and ``D^-1`` asks for steps no line
search recovers from (refreshing at every iteration failed so on the K=995
problem); a floor on ``D`` avoided that but slowed the weakly penalised fits
up to 4x. With 10 classes the refresh gained nothing at 1e-6 (dense
16000 x 100: 13 evaluations either way; 8000 x 784: 41 and 42) and made the
tail to 1e-9 twice as long on 8000 x 784, so there ``D`` stays the one at 0.

With an L1 term it is OWL-QN,
Andrew & Gao, "Scalable training of L1-regularized log-linear models" (ICML
2007): on the orthant of the current iterate the L1 term is linear, so the
objective is smooth there: L-BFGS directions built from the smooth gradient
are applied to the minimum-norm subgradient ("pseudo-gradient"), clipped to
agree in sign with it, and every trial point is projected back onto the
orthant, which is what produces exact zeros.
"""

from collections import deque

import numpy as np

from ._base import Progress, SolverResult, StallCheck, is_flat, max_norm, orthant_wise

_MEMORY = 10
# The preconditioner's refresh with many classes (see the module docstring).
_MANY_CLASSES = 32
_REFRESH = 20


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


def lbfgs(obj, x0, *, tol, max_iter, verbose=0):
    progress = Progress("owlqn" if obj.has_l1 else "lbfgs", verbose)
    x = np.array(x0, dtype=np.float64)
    f_s, g = obj.fun_grad(x)
    F = f_s + obj.l1_value(x)
    pg = obj.min_norm_subgradient(x, g)
    pairs = deque(maxlen=_MEMORY)
    diagonal = obj.preconditioner()
    refresh = obj.n_classes > _MANY_CLASSES
    stalled = StallCheck(obj.eps)
    message = "maximum number of iterations reached"
    n_iter = 0
    for n_iter in range(1, max_iter + 1):
        if max_norm(pg) <= tol:
            n_iter -= 1
            message = "subgradient below tol"
            break
        if refresh and n_iter % _REFRESH == 1 and n_iter > 1:
            diagonal = obj.preconditioner(x)
        d, project = orthant_wise(obj, x, pg, -_two_loop(pg, pairs, diagonal))
        if not d.any():
            d = -pg / diagonal
        t = 1.0
        for _ in range(60):
            x_new = project(x + t * d)
            f_s_new, g_new = obj.fun_grad(x_new)
            F_new = f_s_new + obj.l1_value(x_new)
            if F_new <= F + 1e-4 * float(pg @ (x_new - x)):
                break
            if is_flat(F_new, F, obj.eps) and max_norm(
                obj.min_norm_subgradient(x_new, g_new)
            ) < max_norm(pg):
                break
            t *= 0.5
        else:
            message = "line search failed: the objective no longer decreases"
            break
        s, y = x_new - x, g_new - g
        sy = float(s @ y)
        if sy > 1e-12 * float(y @ y):
            pairs.append((s, y, 1.0 / sy))
        step = max_norm(s)
        x, F, g = x_new, F_new, g_new
        pg = obj.min_norm_subgradient(x, g)
        progress(n_iter, F, max_norm(pg), step)
        if stalled(F, max_norm(pg)):
            message = stalled.message
            break
    else:
        n_iter = max_iter
    grad_norm = max_norm(pg)
    return SolverResult(x, n_iter, grad_norm <= tol, grad_norm, message)
