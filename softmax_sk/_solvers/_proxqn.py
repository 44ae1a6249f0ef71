"""Proximal quasi-Newton (PANOC) and proximal Newton, for penalties known by their prox.

It minimises ``smooth(w) + l1_value(w)`` for any non-smooth term whose proximal
operator ``prox`` the objective provides (group soft-thresholding for the
grouped lasso across classes, soft-thresholding for the L1 norm), with L-BFGS
directions, by PANOC (Stella, Themelis, Sopasakis & Patrinos, "A simple and
efficient algorithm for nonlinear model predictive control", IEEE CDC 2017):

* the forward-backward step ``xb = prox(x - gamma D^-1 g, gamma D^-1)`` in the
  metric ``D / gamma``, with ``D`` the Hessian's diagonal at 0 (constant on each
  group, so the prox stays in closed form); ``gamma`` is halved until the smooth
  part's quadratic upper bound holds at ``xb`` (then ``F(xb)`` decreases), or until
  the bound and the step's change are both within rounding, which no halving mends;
* its residual ``r = D (x - xb) / gamma`` is zero exactly at a minimiser; an
  L-BFGS model of the map ``x -> r`` (pairs ``(dx, dr)``, initial inverse
  ``s^T y / y^T D^-1 y * D^-1`` as in ``_lbfgs``) gives a direction ``d``;
* the next ``x`` is ``x + (1 - tau)(xb - x) + tau d``, the largest ``tau`` in
  {1, 1/2, ...} that decreases the forward-backward envelope
  ``phi(x) = f(x) + g^T (xb - x) + |xb - x|_D^2 / (2 gamma) + P(xb)``, a
  continuous merit function with the same minimisers; ``tau = 0`` (the plain
  forward-backward step) always does, so every iteration decreases ``phi``.

The iterate reported is ``xb``, which carries the prox's exact zeros (dropped
groups), and the stopping rule is the one of every solver: the minimum-norm
subgradient at ``xb`` and, with ``target``, the estimate ``pg.H pg / 2`` (times
``_base.QN_ESTIMATE_SAFETY``, as for L-BFGS) from the L-BFGS model of the residual
map, whose Jacobian is the Hessian where the support no longer changes. Where
the quasi-Newton steps are taken whole this is L-BFGS on the residual,
superlinear near a solution under the paper's conditions; each iteration costs
about two passes over the data.
``proxnewton`` (below) runs ``proxqn`` on a quadratic model with the exact
Hessian instead: fewer, tighter iterations, more passes. Measurements:
``benchmarks/results/grouped.md`` and ``benchmarks/results/notes.md``.
"""

from collections import deque
from typing import NamedTuple

import numpy as np

from ._base import QN_ESTIMATE_SAFETY, Monitor, add_pair, is_flat, max_norm, two_loop

# What the module's two solvers use (proxqn the first five).
NEEDS = frozenset(
    {
        "fun_grad",
        "preconditioner",
        "l1_value",
        "prox",
        "min_norm_subgradient",
        "fun_grad_hessp",
        "eps",
    }
)
_MEMORY = 10
_BETA = 0.05  # slack in the quadratic upper bound, and half of it in phi's decrease
_HALVINGS = 10  # of tau before the plain forward-backward step is taken
_INNER = 500  # proxqn iterations per proximal Newton step at most
_HALVINGS_NEWTON = 60


def proxqn(obj, x0, *, tol, max_iter, verbose=0, target=None, on_iteration=None):
    monitor = Monitor("proxqn", tol, verbose, target, on_iteration)
    diagonal = obj.preconditioner()
    gamma, eps = 1.0, obj.eps
    pairs = deque(maxlen=_MEMORY)

    def forward_backward(x, f, g):
        """``(phi, xb, r, f(xb), grad f(xb))`` at ``x``, halving ``gamma`` as needed."""
        nonlocal gamma
        while True:
            step = gamma / diagonal
            xb = obj.prox(x - step * g, step)
            dx = xb - x
            quadratic = float(dx @ (diagonal * dx)) / (2 * gamma)
            fb, gb = obj.fun_grad(xb)
            bound = f + float(g @ dx) + (1 - _BETA) * quadratic
            # where the step's change and the bound's are both below rounding the test
            # cannot fail for curvature: halving then would only shrink gamma to nothing
            if fb <= bound or not dx.any() or (is_flat(fb, f, eps) and is_flat(bound, f, eps)):
                break
            gamma /= 2
            pairs.clear()
        phi = f + float(g @ dx) + quadratic + obj.l1_value(xb)
        return phi, xb, -diagonal * dx / gamma, fb, gb

    def envelope(x):
        """``(phi, xb, r, f(xb), grad f(xb), f(x), grad f(x))``."""
        f, g = obj.fun_grad(x)
        return (*forward_backward(x, f, g), f, g)

    def decrement(pg):
        """The quasi-Newton estimate of ``F(xb) - F*``: ``pg.H pg / 2``, ``H`` the
        L-BFGS inverse of the residual map's Jacobian (the Hessian on the support)."""
        return QN_ESTIMATE_SAFETY * 0.5 * float(pg @ two_loop(pg, pairs, diagonal))

    x = np.array(x0, dtype=np.float64)
    phi, xb, r, fb, gb, f, g = envelope(x)
    pg = obj.min_norm_subgradient(xb, gb)
    n_iter, restarts = 0, 0
    while n_iter < max_iter:
        n_iter += 1
        if monitor.gradient_small(pg):
            estimate = decrement(pg) if monitor.needs_estimate else None
            if monitor.converged(pg, fb + obj.l1_value(xb), estimate):
                n_iter -= 1
                break
        d = -two_loop(r, pairs, diagonal)
        decrease = _BETA / 4 * gamma * float(r @ (r / diagonal))  # beta / (4 gamma) |x - xb|_D^2
        tau, accepted, gamma_before = 1.0, None, gamma
        for _ in range(_HALVINGS):
            trial = x + (1 - tau) * (xb - x) + tau * d
            candidate = envelope(trial)
            if gamma != gamma_before:  # phi changed with gamma: start the iteration again
                phi, xb, r, fb, gb = forward_backward(x, f, g)
                break
            if candidate[0] <= phi - decrease or (
                # flat to rounding (float32): accept a step that reduces the residual
                is_flat(candidate[0], phi, obj.eps) and max_norm(candidate[2]) < max_norm(r)
            ):
                accepted = trial, candidate
                break
            tau /= 2
        if gamma != gamma_before:
            if restarts < _HALVINGS:  # the iteration starts again: not one of n_iter
                restarts, n_iter = restarts + 1, n_iter - 1
            continue
        if accepted is None:  # the forward-backward step: phi(xb) <= F(xb) < phi(x)
            accepted = xb, (*forward_backward(xb, fb, gb), fb, gb)
        x_new, (phi_new, xb, r_new, fb, gb, f, g) = accepted
        s = x_new - x
        add_pair(pairs, s, r_new - r)
        x, r = x_new, r_new
        pg = obj.min_norm_subgradient(xb, gb)
        if monitor.record(n_iter, xb, phi_new, pg, max_norm(s)):
            break
        phi = phi_new
    if not monitor.needs_estimate:  # the inner solves of proxnewton
        return monitor.result(xb, n_iter, pg)
    return monitor.result(xb, n_iter, pg, fb + obj.l1_value(xb), decrement(pg))


class _Model(NamedTuple):
    """A quadratic model of the smooth part plus the exact non-smooth term, in the
    names ``proxqn`` reads."""

    fun_grad: object
    preconditioner: object
    l1_value: object
    prox: object
    min_norm_subgradient: object
    eps: float


def proxnewton(obj, x0, *, tol, max_iter, verbose=0, target=None, on_iteration=None):
    """Proximal Newton (Lee, Sun & Saunders, "Proximal Newton-type methods for
    minimizing composite functions", SIAM J. Optim., 2014): each iteration
    minimises ``g^T (z - x) + (z - x)^T H (z - x) / 2 + P(z)``, ``H`` the exact
    Hessian (through Hessian-vector products; undamped: ``g`` lies in the range
    of ``H``, so the model is bounded below even where ``H`` is singular), by
    ``proxqn`` to a relative accuracy ``min(0.5, |pg|)`` (a forcing term for
    quadratic convergence; never below ``tol / 10``), then backtracks
    from ``z`` towards ``x`` on the objective. Once the support is identified
    this is Newton's method on it: convergence is fast and tight, at one pass
    per Hessian-vector product of the inner solve.

    It stops on the gradient part of the stopping rule only and reports no
    suboptimality estimate: ``target`` is accepted and ignored. The decrease
    that the inner solve predicts, the natural estimate, fell 1e5x below the
    true suboptimality on a near-separable problem with ``C=1e6``
    (``tests/test_stopping.py``'s weak_penalty), where the inner L-BFGS stops
    far from the model's minimiser along the flattest directions."""
    del target
    monitor = Monitor("proxnewton", tol, verbose, on_iteration=on_iteration)
    x = np.array(x0, dtype=np.float64)
    f, g, hessp = obj.fun_grad_hessp(x)
    F = f + obj.l1_value(x)
    pg = obj.min_norm_subgradient(x, g)
    diagonal = obj.preconditioner()
    n_iter = 0
    for n_iter in range(1, max_iter + 1):
        if monitor.converged(pg):
            n_iter -= 1
            break

        def model_fun_grad(z, x=x, g=g, hessp=hessp):
            v = z - x
            hv = hessp(v)
            return float(g @ v + 0.5 * (v @ hv)), g + hv

        model = _Model(
            model_fun_grad,
            lambda w=None: diagonal,
            obj.l1_value,
            obj.prox,
            obj.min_norm_subgradient,
            obj.eps,
        )
        rtol = min(0.5, max_norm(pg))
        # no more accurate than tol / 10: beyond it the model's rounding dominates
        z = proxqn(model, x, tol=max(rtol * max_norm(pg), 0.1 * tol), max_iter=_INNER).x
        delta = float(g @ (z - x)) + obj.l1_value(z) - obj.l1_value(x)
        t, accepted = 1.0, None
        for _ in range(_HALVINGS_NEWTON):
            x_new = z if t == 1.0 else x + t * (z - x)
            f_new, g_new, hessp_new = obj.fun_grad_hessp(x_new)
            F_new = f_new + obj.l1_value(x_new)
            pg_new = obj.min_norm_subgradient(x_new, g_new)
            if F_new <= F + 1e-4 * t * min(delta, 0.0) and (
                F_new < F or max_norm(pg_new) < max_norm(pg)
            ):
                accepted = x_new
                break
            if is_flat(F_new, F, obj.eps) and max_norm(pg_new) < max_norm(pg):
                accepted = x_new
                break
            t /= 2
        if accepted is None:
            monitor.line_search_failed()
            break
        step = max_norm(accepted - x)
        x, f, g, hessp, F, pg = accepted, f_new, g_new, hessp_new, F_new, pg_new
        if monitor.record(n_iter, x, F, pg, step):
            break
    return monitor.result(x, n_iter, pg)
