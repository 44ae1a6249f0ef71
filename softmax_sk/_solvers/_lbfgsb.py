"""Projected L-BFGS for box constraints (``lower <= w <= upper``), with L1 or without.

Each iteration works on a *face*: the box, intersected, for every L1-penalised
entry, with the orthant of its sign (of ``-pg`` where it is 0; an entry at 0
with a zero pseudo-gradient stays there). On that face the objective is smooth
(the L1 term is linear), so a quasi-Newton step applies; trial points are
clipped onto the face, which puts entries exactly on their bounds. Entries on a
face bound that the minimum-norm subgradient ``pg`` does not push inward are
held fixed, as in Bertsekas's projected Newton method ("Projected Newton methods
for optimization problems with simple constraints", SIAM J. Control Optim.,
1982) and in the projected quasi-Newton method of Kim, Sra & Dhillon (2010): the
direction is ``-H pg`` restricted to the free entries, with ``H`` the L-BFGS
inverse Hessian (memory 10, scaled by the Hessian's diagonal at 0 as in
``_lbfgs``), and components that would leave the face at once are dropped;
where that is no longer a descent direction, ``-D^-1 pg`` is used. ``pg`` is the
minimum-norm element of the subdifferential of objective plus box indicator
(the projected gradient without L1), so the stopping rule is the one of every
solver (with ``target``, the quasi-Newton decrement ``pg.H pg / 2`` of the
shared loop, ``_base.quasi_newton``), and the line search is the shared Armijo
backtracking along ``pg``.
Without bounds this is OWL-QN (``_lbfgs``).
"""

import numpy as np

from ._base import Monitor, quasi_newton

NEEDS = frozenset(
    {
        "fun_grad",
        "preconditioner",
        "eps",
        "has_l1",
        "penalized",
        "bounds",
        "l1_value",
        "min_norm_subgradient",
    }
)


def face(x, pg, lower, upper, l1_mask):
    """The box ``(lo, hi)`` of this iteration: the bounds intersected with the orthant
    of each L1-penalised entry (see the module docstring)."""
    sign = np.where(x != 0, np.sign(x), np.sign(-pg))
    lo = np.where(l1_mask & (sign >= 0), np.maximum(lower, 0.0), lower)
    hi = np.where(l1_mask & (sign <= 0), np.minimum(upper, 0.0), upper)
    return lo, hi


def lbfgsb(
    obj, x0, *, tol, max_iter, verbose=0, refresh_every=None, target=None, on_iteration=None
):
    x = np.array(x0, dtype=np.float64)
    if obj.bounds is None:
        lower, upper = np.full_like(x, -np.inf), np.full_like(x, np.inf)
    else:
        lower, upper = obj.bounds
    l1_mask = obj.penalized & obj.has_l1

    def direction(x, pg, d, diagonal):
        lo, hi = face(x, pg, lower, upper, l1_mask)
        held = ((pg == 0) & ((x == lo) | (x == hi))) | ((x == lo) & (d < 0)) | ((x == hi) & (d > 0))
        d[held | (l1_mask & (d * pg >= 0))] = 0.0
        if not float(pg @ d) < 0:
            d = -pg / diagonal
        return d, lambda x_new: np.clip(x_new, lo, hi)

    return quasi_newton(
        Monitor("lbfgsb", tol, verbose, target, on_iteration),
        np.clip(x, lower, upper),
        direction,
        obj.fun_grad,
        obj.l1_value,
        obj.min_norm_subgradient,
        obj.preconditioner,
        eps=obj.eps,
        max_iter=max_iter,
        refresh_every=refresh_every,
    )
