"""Truncated Newton (Newton-CG) with a backtracking line search; orthant-wise for L1.

Needs: ``fun_grad_hessp``, ``fun``, ``fun_grad``, ``preconditioner`` and ``has_l2``;
with an L1 term also ``l1_value``, ``min_norm_subgradient`` and ``penalized``.

The Hessian of the scaled objective at ``w`` is, in the logits of each sample,
``s_i (diag(p_i) - p_i p_i^T)`` pulled back through ``X`` (see
``SoftmaxLoss.gradient_hessp``), plus ``l2`` on the penalised weights. Each
Newton iteration solves ``H d = -g`` approximately by conjugate gradients
preconditioned with ``D``, the Hessian's diagonal at ``w = 0``
(``Objective.preconditioner``: one pass, once per fit), so that features on
different scales cost no extra CG steps (on the benchmark's 8000 x 784
problem, whose feature scales span 0.2 to 1.5, 182 passes to 1e-6
suboptimality without it, 75 with it). CG stops when the residual falls
below ``eta * |g|`` with ``eta = min(0.5, sqrt(|g|))`` (the Eisenstat-Walker
"choice 2" forcing term: superlinear convergence without solving early
systems exactly) and gives a descent direction after any number of steps.
The iteration then takes the largest step ``t`` in {1, 1/2, 1/4, ...} that
satisfies the Armijo condition (or, where the objective is flat to rounding,
reduces the gradient). Each CG step is one Hessian-vector product (one pass
over X); the full Hessian is never formed.

With an L2 term ``H`` is positive definite on the weights (the intercepts'
one flat direction, all classes shifted together, is orthogonal to every
gradient) and the system is solved as it is. Without one (``C=inf``, or pure
L1) ``H`` can be singular along directions the gradient does not avoid (a
redundant class, more features than samples), so the system becomes
``(H + mu D) d = -g`` with ``mu = |g|_D = sqrt(g^T D^-1 g)``: the regularised
Newton method of Li, Fukushima, Qi and Yamashita (2004), whose damping
vanishes at the optimum and keeps quadratic convergence. It is not used with
an L2 term because there it only slows the fit: on the sparse benchmark
problem (16000 x 10000, K=20) the damped iteration took 16 iterations and 93
passes to 1e-6 suboptimality, the undamped one 3 and 26.

With an L1 term the same iteration runs orthant-wise, as OWL-QN does with its
quasi-Newton directions: ``g`` is the pseudo-gradient, the system is solved
over the free entries only (penalised entries at 0 with a zero pseudo-gradient
stay fixed), and trial points are projected onto the current orthant. Once
the support is identified this is Newton's method on it, so it converges
quadratically to the exact L1 solution.
"""

import numpy as np

from ._base import Progress, SolverResult, StallCheck, is_flat, max_norm, orthant_wise

# mu = _DAMPING * |g|_D without an L2 term: of 3, 1, 0.3, 0.1, 0.03 and 0.01, 1 took
# the fewest passes (629; 0.1: 735) over C=inf and L1 fits of two synthetic problems
# (K=3, K=10) and L1 fits of digits and 2000 x 784, K=10, at tol=1e-6.
_DAMPING = 1.0
# CG steps per Newton iteration at most (a truncated direction is still a descent one).
_MAX_CG = 200


def _conjugate_gradient(hessp, g, rtol, max_iter, diagonal):
    """Approximately solve ``H d = -g`` by CG preconditioned with ``diagonal``.

    Stops when the residual is below ``rtol * |g|`` or on a direction of
    non-positive curvature.
    """
    d = np.zeros_like(g)
    r = -g.copy()
    z = r / diagonal
    p = z.copy()
    rz = float(r @ z)
    target = (rtol**2) * float(r @ r)
    for _ in range(max_iter):
        Hp = hessp(p)
        curvature = float(p @ Hp)
        if curvature <= 1e-16 * rz:  # flat or negative direction: keep what we have
            if not d.any():
                d = z
            break
        alpha = rz / curvature
        d += alpha * p
        r -= alpha * Hp
        if float(r @ r) <= target:
            break
        z = r / diagonal
        rz_new = float(r @ z)
        p *= rz_new / rz
        p += z
        rz = rz_new
    return d


def newton_cg(obj, x0, *, tol, max_iter, verbose=0):
    progress = Progress("newton-cg", verbose)
    x = np.array(x0, dtype=np.float64)

    def total(f, x):
        return f + obj.l1_value(x) if obj.has_l1 else f

    f, g, hessp = obj.fun_grad_hessp(x)
    F = total(f, x)
    pg = obj.min_norm_subgradient(x, g)
    stalled = StallCheck(obj.eps)
    diagonal = obj.preconditioner()
    message = "maximum number of iterations reached"
    n_iter = 0
    for n_iter in range(1, max_iter + 1):
        if max_norm(pg) <= tol:
            n_iter -= 1
            message = "gradient below tol"
            break
        # Entries held at 0 by the L1 term do not move this iteration.
        free = ~(obj.penalized & (x == 0) & (pg == 0)) if obj.has_l1 else None

        # Damping mu * D, in the preconditioner's metric (see the module docstring).
        mu = 0.0 if obj.has_l2 else _DAMPING * float(np.sqrt(pg @ (pg / diagonal)))

        def damped_hessp(v, hessp=hessp, free=free, mu=mu):
            hv = hessp(v) if free is None else hessp(v * free) * free
            return hv + mu * diagonal * v if mu else hv

        eta = min(0.5, np.sqrt(float(np.linalg.norm(pg))))
        d = _conjugate_gradient(damped_hessp, pg, eta, _MAX_CG, diagonal)
        # Not clipped: that would break the coupling the Newton direction carries
        # (Byrd, Chin, Nocedal & Oztoprak 2012); the projection keeps the orthant.
        d, project = orthant_wise(obj, x, pg, d, clip=False)
        if float(pg @ d) >= 0 or not d.any():  # not a descent direction: use -pg
            d, project = orthant_wise(obj, x, pg, -pg)
        t = 1.0
        for _ in range(60):
            x_new = project(x + t * d)
            F_new = total(obj.fun(x_new), x_new)
            if F_new <= F + 1e-4 * float(pg @ (x_new - x)):
                break
            if is_flat(F_new, F, obj.eps):
                g_new = obj.fun_grad(x_new)[1]
                if max_norm(obj.min_norm_subgradient(x_new, g_new)) < max_norm(pg):
                    break
            t *= 0.5
        else:
            message = "line search failed: the objective no longer decreases"
            break
        step = max_norm(x_new - x)
        x = x_new
        f, g, hessp = obj.fun_grad_hessp(x)
        F = total(f, x)
        pg = obj.min_norm_subgradient(x, g)
        progress(n_iter, F, max_norm(pg), step)
        if stalled(F, max_norm(pg)):
            message = stalled.message
            break
    else:
        n_iter = max_iter
    grad_norm = max_norm(pg)
    return SolverResult(x, n_iter, grad_norm <= tol, grad_norm, message)
