"""What solvers may call, what they return, and the pieces they share.

Stopping rule (``Monitor``): the max-norm of the minimum-norm subgradient of the
scaled objective (the plain gradient without an L1 term) is at most ``tol`` and,
when a target is given, the solver's estimate of the relative suboptimality is
at most the target. The objective is the mean cross-entropy plus the scaled
penalty (see ``softmax_sk._loss``), so ``tol`` does not depend on the number of
samples or on ``C``'s effect on the loss scale.
"""

import dataclasses
from collections import deque
from dataclasses import dataclass
from typing import Protocol

import numpy as np

# Why a solver stopped when its ``on_iteration`` hook asked it to.
STOPPED_MESSAGE = "stopped by a callback"
# Why a solver stopped when its iteration budget ran out, and when the rule held.
MAX_ITER_MESSAGE = "maximum number of iterations reached"
RULE_MESSAGE = "gradient below tol and estimated suboptimality below target"
# ... and where the objective is below tol (near-separable data), the gradient alone.
LOSS_MESSAGE = "gradient below tol and objective below tol (no relative bound applies)"


class Objective(Protocol):
    """Everything a solver may use of the objective; each solver module lists the
    names it uses in ``NEEDS`` (checked by the tests).

    The objective is ``smooth(w) + l1_value(w)``, minimised over the box
    ``bounds`` (everywhere when None); ``smooth`` is twice differentiable,
    ``l1_value`` a weighted L1 norm of the ``penalized`` entries, or a sum of
    group norms of them (``prox`` is its proximal operator either way), and
    ``min_norm_subgradient`` includes the box's normal cone.
    """

    eps: float  # relative precision of objective values
    has_l1: bool
    has_l2: bool
    penalized: np.ndarray  # bool mask of the entries the penalty acts on
    bounds: tuple | None  # (lower, upper) flat arrays of a box constraint, or None

    def fun(self, w) -> float: ...
    def fun_grad(self, w) -> tuple: ...
    def fun_grad_hessp(self, w) -> tuple: ...
    def preconditioner(self, w=None) -> np.ndarray: ...
    def l1_value(self, w) -> float: ...
    def min_norm_subgradient(self, w, grad_smooth) -> np.ndarray: ...
    def prox(self, w, step) -> np.ndarray: ...
    def gradient_norm(self, pg) -> float: ...  # the norm the stopping rule reads


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
    suboptimality : float
        Estimated relative suboptimality at ``x``: the decrement ``-g.d / 2`` of
        the solver's own Newton or quasi-Newton direction ``d`` over ``|F|``
        (nan when the solver could not tell).
    """

    x: np.ndarray
    n_iter: int
    converged: bool
    grad_norm: float
    message: str = ""
    suboptimality: float = float("nan")


def max_norm(g):
    return float(np.max(np.abs(g))) if g.size else 0.0


def is_flat(f_new, f, eps):
    """Whether two objective values are equal up to rounding (``eps``: their precision)."""
    return abs(f_new - f) <= 10 * eps * max(abs(f), 1.0)


def backtrack(x, d, F, pg, project, value, flat_ok, eps, halvings=60):
    """The largest step ``t`` in {1, 1/2, 1/4, ...} along ``d`` that is accepted.

    A trial point ``project(x + t d)`` is accepted when its objective
    ``value(x_t)`` satisfies the Armijo condition along the (pseudo-)gradient
    ``pg``, or, where it is flat to rounding against ``F`` and the Armijo test
    can no longer tell a good step from a bad one, when ``flat_ok(x_t)`` (the
    step reduces the gradient). Returns ``(x_t, value)``, or None when no step
    in ``halvings`` halvings is accepted.
    """
    t = 1.0
    for _ in range(halvings):
        x_new = project(x + t * d)
        F_new = value(x_new)
        if F_new <= F + 1e-4 * float(pg @ (x_new - x)):
            return x_new, F_new
        if is_flat(F_new, F, eps) and flat_ok(x_new):
            return x_new, F_new
        t *= 0.5
    return None


class Monitor:
    """The bookkeeping of one solver run: the stopping rule, progress reports,
    the stall check, why it stopped, and the result.

    Progress: ``on_iteration(it, x, F, grad_norm, step)``, when given, is
    called after every iteration with the new iterate, its objective, the
    max-norm of its (pseudo-)gradient and the step's max-norm; it returning
    True stops the solver (``message``: stopped by a callback). Without it,
    ``verbose > 0`` prints iteration lines (``softmax_sk._progress``).

    The stopping rule has two parts. The gradient part: the max-norm of the
    (pseudo-)gradient is at most ``tol``. The suboptimality part, when a
    ``target`` is given: the estimated relative suboptimality
    ``decrement / |F|`` is at most ``target``, where ``decrement = -g.d / 2``
    for the solver's (quasi-)Newton direction ``d ~ -H^-1 g``: near the
    optimum ``F - F* ~ g^T H^-1 g / 2``. The gradient alone stops early where
    it is small but the curvature smaller still (a rare class, hundreds of
    classes, a weak penalty); ``target=None`` is the gradient rule alone. On
    separable data without a penalty ``F`` tends to 0 and no relative bound can
    be met: once ``F <= tol`` (a mean log-loss below ``tol``) the gradient part
    alone decides, and the ratio is reported with ``tol`` in place of ``F``.
    """

    def __init__(self, name, tol, verbose, target=None, on_iteration=None, measure=None):
        self.name, self.tol, self.verbose, self.target = name, tol, verbose, target
        self.measure = max_norm if measure is None else measure  # of the rule's gradient
        if on_iteration is None and verbose > 0:
            from .._progress import ProgressLog

            on_iteration = ProgressLog(name, verbose).iteration
        self.on_iteration = on_iteration
        self.stalled = StallCheck()
        self.message = MAX_ITER_MESSAGE
        self.suboptimality = float("nan")

    def gradient_small(self, pg):
        """Whether the gradient part of the stopping rule holds for ``pg``."""
        return self.measure(pg) <= self.tol

    @property
    def needs_estimate(self):
        """Whether ``converged`` uses a decrement (solvers skip computing it if not)."""
        return self.target is not None

    def estimate(self, F, decrement):
        """Record the relative suboptimality estimated from ``decrement`` at objective ``F``."""
        self.suboptimality = max(float(decrement), 0.0) / max(abs(F), self.tol, 1e-300)
        return self.suboptimality

    def converged(self, pg, F=None, decrement=None):
        """Whether the stopping rule holds for the (pseudo-)gradient ``pg`` and,
        with a target, the decrement ``-pg.d / 2`` of the next direction at ``F``."""
        if not self.gradient_small(pg):
            return False
        if self.target is not None:
            if self.estimate(F, decrement) <= self.target:
                self.message = RULE_MESSAGE
            elif abs(F) <= self.tol:
                self.message = LOSS_MESSAGE
            else:
                return False
        else:
            self.message = "gradient below tol"
        return True

    def line_search_failed(self):
        self.message = "line search failed: the objective no longer decreases"

    def record(self, it, x, F, pg, step):
        """Report iteration ``it`` (now at ``x``); True when the solver should stop
        (stalled, or ``on_iteration`` asked to)."""
        grad_norm = self.measure(pg)
        if self.on_iteration is not None and self.on_iteration(it, x, F, grad_norm, step):
            self.message = STOPPED_MESSAGE
            return True
        if self.stalled(F, grad_norm):
            self.message = self.stalled.message
            return True
        return False

    def result(self, x, n_iter, pg, F=None, decrement=None):
        """The run's result; ``decrement`` at ``x`` (if given) updates the estimate."""
        grad_norm = self.measure(pg)
        if decrement is not None:
            self.estimate(F, decrement)
        converged = grad_norm <= self.tol and (
            self.target is None or self.suboptimality <= self.target or abs(F) <= self.tol
        )
        return SolverResult(
            x, n_iter, converged, grad_norm, self.message, float(self.suboptimality)
        )


class StallCheck:
    """Tells a solver when the data's precision allows no further progress.

    Stalled: over the last ``patience`` iterations the gradient norm never fell
    below 0.9 times the best seen, and the objective's net decrease is within
    its noise: at most twice the sum of its increases over the window (a
    descent method only goes up by rounding), or at most ``10 eps`` of float64
    relative (the loss is summed in float64). Without it a float32 fit asked
    for an unreachable ``tol`` grinds through ``max_iter`` steps that only trade
    rounding noise; measuring noise by the increases rather than by the dtype's
    epsilon lets a steady descent with steps below float32 rounding go on
    (``benchmarks/results/notes.md``).
    """

    message = "the objective is flat to rounding and the gradient no longer decreases"

    def __init__(self, patience=10):
        self.best = np.inf
        self.window = deque(maxlen=patience + 1)

    def __call__(self, F, grad_norm):
        """Record an iteration's objective and gradient norm; True once stalled."""
        if grad_norm <= 0.9 * self.best:  # the gradient still shrinks: start over
            self.window.clear()
        self.best = min(self.best, grad_norm)
        self.window.append(F)
        if len(self.window) < self.window.maxlen:
            return False
        values = np.array(self.window)
        net = values[0] - values[-1]
        noise = np.maximum(np.diff(values), 0.0).sum()
        return net <= 2 * noise or net <= 10 * np.finfo(np.float64).eps * abs(values[-1])


def orthant_wise(penalized, x, pg, d, clip=True):
    """Prepare an orthant-wise step from ``x`` along ``d`` (Andrew & Gao 2007).

    ``penalized`` is the mask of the L1-penalised entries, or None without an
    L1 term (then ``d`` is returned unchanged and ``project`` is the identity).
    With ``clip``, components of ``d`` on penalised entries that do not descend
    along the pseudo-gradient ``-pg`` are dropped. The orthant to stay in is the
    sign of ``x`` (or of ``-pg`` where ``x`` is 0). Returns ``(d, project)`` where
    ``project(x_new)`` zeroes the penalised entries that left the orthant.
    """
    if penalized is None:
        return d, lambda x_new: x_new
    if clip:
        d = np.where((d * pg >= 0) & penalized, 0.0, d)
    orthant = np.where(x != 0, np.sign(x), np.sign(-pg))

    def project(x_new):
        x_new[(np.sign(x_new) != orthant) & penalized] = 0.0
        return x_new

    return d, project


# The decrement pg.H pg / 2 of the two-loop H underestimated the suboptimality by
# 2-20x on 500 classes (its pairs miss the flattest directions), so the stopping
# rule and the report take it times this (benchmarks/results/defaults.md).
QN_ESTIMATE_SAFETY = 10.0


def quasi_newton(
    monitor,
    x,
    direction,
    fun_grad,
    l1_value,
    min_norm_subgradient,
    preconditioner,
    *,
    eps,
    max_iter,
    refresh_every=None,
    memory=10,
    confirm=None,
):
    """The L-BFGS loop that ``_lbfgs`` and ``_lbfgsb`` share; they differ in ``direction``.

    Each iteration takes the L-BFGS direction ``-H pg`` (``two_loop``, from the
    Hessian's diagonal, re-taken every ``refresh_every`` iterations) and hands
    it to ``direction(x, pg, d, diagonal) -> (d, project)``, which adapts it to
    the constraints (orthant, box) and says how to project trial points; then
    the shared line search, a curvature pair from the smooth gradient, and
    ``monitor``'s stopping rule, whose suboptimality estimate (once the gradient
    is small) is the decrement ``pg.H pg / 2`` times ``QN_ESTIMATE_SAFETY``: one
    two-loop product, reused for the step. Where that estimate says the rule holds,
    ``confirm(x, pairs, diagonal, estimate)`` (optional; ``_newton.confirm``) has the
    last word: its result is returned where it converged; otherwise the loop goes on
    from its point, and the next check waits until the iterations have doubled.
    Returns the ``SolverResult``.
    """
    f_s, g = fun_grad(x)
    F = f_s + l1_value(x)
    pg = min_norm_subgradient(x, g)
    pairs = deque(maxlen=memory)
    diagonal = preconditioner()
    # D is the curvature at 0: from a warm start elsewhere, q = D^-1 pg says nothing
    # of the suboptimality (it underestimated it 7x at the optimum of a 8x smaller C,
    # benchmarks/results/cv.md), so such a start does not stop before its first pair.
    blind = x.any() and monitor.needs_estimate
    trial = {}  # the gradient at the last trial point of the line search

    def value(x_new):
        f_new, trial["g"] = fun_grad(x_new)
        return f_new + l1_value(x_new)

    def flat_ok(x_new):
        return max_norm(min_norm_subgradient(x_new, trial["g"])) < max_norm(pg)

    def confirmed(x, n_iter):
        """The check's result, its Newton iterations counted (``max_iter`` at most), and
        the check itself."""
        check = confirm(x, pairs, diagonal, monitor.suboptimality)
        total = min(n_iter + extra + check.n_iter, max_iter)
        return dataclasses.replace(check, n_iter=total), check

    n_iter, next_check, extra = 0, 0, 0  # extra: Newton iterations of checks that missed
    for n_iter in range(1, max_iter + 1):
        q = None  # H pg, H the inverse-Hessian approximation; its decrement pg.q / 2 is free
        if monitor.gradient_small(pg):
            if monitor.needs_estimate:
                q = two_loop(pg, pairs, diagonal)
            decrement = None if q is None else QN_ESTIMATE_SAFETY * 0.5 * float(pg @ q)
            if not (blind and not pairs) and monitor.converged(pg, F, decrement):
                if confirm is None:
                    n_iter -= 1
                    break
                monitor.message = MAX_ITER_MESSAGE
                if n_iter >= next_check:
                    result, check = confirmed(x, n_iter - 1)
                    if result.converged:
                        return result
                    next_check, extra = 2 * n_iter, extra + check.n_iter
                    if check.n_iter:  # lower: go on from there, with the move as a pair
                        f_s, g_new = fun_grad(check.x)
                        F = f_s + l1_value(check.x)
                        add_pair(pairs, check.x - x, g_new - g)
                        x, g = check.x, g_new
                        pg = min_norm_subgradient(x, g)
                        q = None
        if refresh_every and n_iter > 1 and n_iter % refresh_every == 1:
            diagonal = preconditioner(x)
            q = None
        if q is None:
            q = two_loop(pg, pairs, diagonal)
        d, project = direction(x, pg, -q, diagonal)
        accepted = backtrack(x, d, F, pg, project, value, flat_ok, eps)
        if accepted is None:
            monitor.line_search_failed()
            break
        x_new, F = accepted
        s = x_new - x
        add_pair(pairs, s, trial["g"] - g)
        x, g = x_new, trial["g"]
        pg = min_norm_subgradient(x, g)
        if monitor.record(n_iter, x, F, pg, max_norm(s)):
            break
    decrement = QN_ESTIMATE_SAFETY * 0.5 * float(pg @ two_loop(pg, pairs, diagonal))
    result = monitor.result(x, min(n_iter + extra, max_iter), pg, F, decrement)
    # The budget ran out where the estimate held: the check has the last word (not after
    # a stall, flat to rounding, nor where no pair backs the estimate, a warm start).
    ran_out = monitor.message == MAX_ITER_MESSAGE and n_iter > 0 and not (blind and not pairs)
    if confirm is not None and result.converged and ran_out:
        result = confirmed(x, n_iter)[0]
        if not result.converged:
            result = dataclasses.replace(result, message=monitor.message)
    return result


def add_pair(pairs, s, y):
    """Keep the curvature pair ``(s, y)`` of a step when ``s^T y`` is safely positive."""
    sy = float(s @ y)
    if sy > 1e-12 * float(y @ y):
        pairs.append((s, y, 1.0 / sy))


# inverse_hessian: the compact form's matrix (2m x n) up to this many entries (160 MB).
COMPACT_MAX = 2e7


def inverse_hessian(pairs, diagonal):
    """L-BFGS's inverse-Hessian estimate as a function ``v -> H v``, equal to
    ``two_loop(v, pairs, diagonal)`` for every ``v``, in the compact form of Byrd,
    Nocedal & Schnabel (1994, eq. 3.1): ``H = H0 + U^T M U`` with ``U = [S; Y H0]``
    (2m x n) and a 2m x 2m ``M``.

    Built once (O(m^2 n)), it costs two products with ``U`` per vector instead of the
    recursion's 4m vector operations: for the stochastic solver's many steps under
    the same pairs. ``U`` holds 2m vectors of size n beside the pairs' own; above
    ``COMPACT_MAX`` entries in all the recursion is returned instead (2 vectors).
    """
    m, n = len(pairs), diagonal.size
    if 2 * m * n > COMPACT_MAX:
        return lambda v: two_loop(v, pairs, diagonal)
    s, y, _ = pairs[-1]
    h0 = float(s @ y) / float(y @ (y / diagonal)) / diagonal
    U = np.empty((2 * m, n))
    for i, (s, y, _) in enumerate(pairs):
        U[i], U[m + i] = s, y
        U[m + i] *= h0
    SY = np.array([[s @ y for _, y, _ in pairs] for s, _, _ in pairs])  # s_i . y_j
    YHY = np.array([[y @ hy for hy in U[m:]] for _, y, _ in pairs])  # y_i . H0 y_j
    R_inv = np.linalg.inv(np.triu(SY))
    middle = R_inv.T @ (np.diag(np.diag(SY)) + YHY) @ R_inv
    M = np.block([[middle, -R_inv.T], [-R_inv, np.zeros_like(R_inv)]])

    def apply(v):
        return h0 * v + U.T @ (M @ (U @ v))

    return apply


def two_loop(v, pairs, diagonal):
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
