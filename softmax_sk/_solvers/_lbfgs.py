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
what produces exact zeros.

The stopping rule's suboptimality estimate, from the last pairs, missed nearly flat
directions on small problems at large C; up to ``_newton.CONFIRM_MAX_SIZE``
coefficients, where that estimate says the rule holds, a short Newton-CG run
(``_newton.confirm``) confirms it or finishes the fit. Measurements behind these
choices: ``benchmarks/results/notes.md``.
"""

import numpy as np

from . import _newton
from ._base import Monitor, orthant_wise, quasi_newton

# With a target, a short Newton-CG run confirms the stopping rule (_newton.confirm).
NEEDS = _newton.NEEDS | {
    "fun_grad",
    "preconditioner",
    "eps",
    "has_l1",
    "penalized",
    "l1_value",
    "min_norm_subgradient",
}


def lbfgs(obj, x0, *, tol, max_iter, verbose=0, refresh_every=None, target=None, on_iteration=None):
    l1_mask = obj.penalized if obj.has_l1 else None

    def direction(x, pg, d, diagonal):
        d, project = orthant_wise(l1_mask, x, pg, d)
        return (d if d.any() else -pg / diagonal), project

    def confirm(x, pairs, diagonal, estimate):
        return _newton.confirm(
            obj, x, pairs, diagonal, tol=tol, target=target, estimate=estimate, verbose=verbose - 1
        )

    return quasi_newton(
        Monitor(
            "owlqn" if obj.has_l1 else "lbfgs",
            tol,
            verbose,
            target,
            on_iteration,
            obj.gradient_norm,
        ),  # fmt: skip
        np.array(x0, dtype=np.float64),
        direction,
        obj.fun_grad,
        obj.l1_value,
        obj.min_norm_subgradient,
        obj.preconditioner,
        eps=obj.eps,
        max_iter=max_iter,
        refresh_every=refresh_every,
        confirm=confirm if _newton.can_confirm(obj, target, np.size(x0)) else None,
    )
