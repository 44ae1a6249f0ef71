"""What every solver returns, and the one stopping rule they share.

Stopping rule: a solver has converged when the max-norm of the minimum-norm
subgradient of the scaled objective (the plain gradient without an L1 term) is
at most ``tol``. The objective is the mean cross-entropy plus the scaled
penalty (see ``softmax_sk._loss``), so ``tol`` does not depend on the number of
samples or on ``C``'s effect on the loss scale.
"""

from collections import deque
from dataclasses import dataclass

import numpy as np


@dataclass
class SolverResult:
    """Outcome of a solver run.

    Attributes
    ----------
    x : ndarray
        The final coefficients (flat, float64).
    n_iter : int
        Number of iterations the solver took.
    converged : bool
        Whether the stopping rule held at ``x``.
    grad_norm : float
        Max-norm of the (minimum-norm sub)gradient at ``x``.
    message : str
        Why the solver stopped, in words.
    """

    x: np.ndarray
    n_iter: int
    converged: bool
    grad_norm: float
    message: str = ""


def max_norm(g):
    return float(np.max(np.abs(g))) if g.size else 0.0


def is_flat(f_new, f, eps):
    """Whether two objective values are equal up to rounding.

    Close to the optimum the decrease a step brings falls below the precision
    of the objective (``eps``: the machine epsilon of the data's dtype, in which
    the loss is summed), and the Armijo test can no longer tell a good step
    from a bad one. The line searches then accept a step that reduces the gradient.
    """
    return abs(f_new - f) <= 10 * eps * max(abs(f), 1.0)


class Progress:
    """One line per iteration on stdout when ``verbose > 0``."""

    def __init__(self, name, verbose):
        self.name = name
        self.verbose = verbose

    def __call__(self, it, fun, grad_norm, step):
        if self.verbose > 0:
            print(
                f"[{self.name}] iter {it:4d}  objective {fun:.10e}  "
                f"|grad|_max {grad_norm:.3e}  step {step:.3e}",
                flush=True,
            )


class StallCheck:
    """Tells a solver when the data's precision allows no further progress.

    Stalled: over the last ``patience`` iterations the objective fell by no more
    than rounding (``is_flat`` of its first and last values) and the gradient
    norm never fell below 0.9 times the best seen. Without it a float32 fit asked
    for an unreachable ``tol`` grinds through ``max_iter`` steps that only trade
    rounding noise. The decrease is measured over the whole window, not step by
    step: near the optimum of 8000 x 100, K=995 float32, L-BFGS still gained
    1e-7 of the objective per step, each below rounding but steady, and a
    step-by-step test stopped it 1.6e-6 above the optimum.
    """

    message = "the objective is flat to rounding and the gradient no longer decreases"

    def __init__(self, eps, patience=10):
        self.eps = eps
        self.best = np.inf
        self.window = deque(maxlen=patience + 1)

    def __call__(self, F, grad_norm):
        """Record an iteration's objective and gradient norm; True once stalled."""
        if grad_norm <= 0.9 * self.best:  # the gradient still shrinks: start over
            self.window.clear()
        self.best = min(self.best, grad_norm)
        self.window.append(F)
        full = len(self.window) == self.window.maxlen
        return full and is_flat(self.window[-1], self.window[0], self.eps)


def orthant_wise(obj, x, pg, d, clip=True):
    """Prepare an orthant-wise step from ``x`` along ``d`` (Andrew & Gao 2007).

    With ``clip``, components of ``d`` on penalised entries that do not descend
    along the pseudo-gradient ``-pg`` are dropped. The orthant to stay in is the
    sign of ``x`` (or of ``-pg`` where ``x`` is 0). Returns ``(d, project)`` where
    ``project(x_new)`` zeroes the penalised entries that left the orthant.
    Without an L1 term, ``d`` is returned unchanged and ``project`` is the identity.
    """
    if not obj.has_l1:
        return d, lambda x_new: x_new
    if clip:
        d = np.where((d * pg >= 0) & obj.penalized, 0.0, d)
    orthant = np.where(x != 0, np.sign(x), np.sign(-pg))
    mask = obj.penalized

    def project(x_new):
        x_new[(np.sign(x_new) != orthant) & mask] = 0.0
        return x_new

    return d, project
