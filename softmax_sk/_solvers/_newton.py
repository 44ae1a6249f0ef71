"""Truncated Newton (Newton-CG) with a backtracking line search; orthant-wise for L1.

Each iteration solves ``H d = -g`` approximately by conjugate gradients on
Hessian-vector products (one pass over X each; the Hessian is never formed),
preconditioned with ``D``, the Hessian's diagonal at ``w = 0``, so that features
on different scales cost no extra CG steps. CG stops when the residual falls
below ``eta * |g|`` with ``eta = min(0.5, sqrt(|g|))`` (the Eisenstat-Walker
"choice 2" forcing term: superlinear convergence without solving early systems
exactly) and gives a descent direction after any number of steps. The step is
the largest ``t`` in {1, 1/2, ...} the shared line search accepts.

With an L2 term ``H`` is positive definite on the weights (the intercepts' one
flat direction, all classes shifted together, is orthogonal to every gradient)
and the system is solved as it is. Without one (``C=inf``, or pure L1) ``H`` can
be singular along directions the gradient does not avoid (a redundant class,
more features than samples), so the system becomes ``(H + mu D) d = -g`` with
``mu = |g|_D = sqrt(g^T D^-1 g)``: the regularised Newton method of Li,
Fukushima, Qi and Yamashita (2004), whose damping vanishes at the optimum. It is
not used with an L2 term, where it only slows the fit.

With an L1 term the same iteration runs orthant-wise, as OWL-QN does with its
quasi-Newton directions: ``g`` is the pseudo-gradient, the system is solved over
the free entries only (penalised entries at 0 with a zero pseudo-gradient stay
fixed), and trial points are projected onto the current orthant; once the
support is identified this is Newton's method on it. Measurements behind these
choices: ``benchmarks/results/notes.md``.
"""

import dataclasses

import numpy as np

from ._base import (
    LOSS_MESSAGE,
    RULE_MESSAGE,
    Monitor,
    backtrack,
    inverse_hessian,
    max_norm,
    orthant_wise,
)

NEEDS = frozenset(
    {
        "fun",
        "fun_grad",
        "fun_grad_hessp",
        "preconditioner",
        "eps",
        "has_l1",
        "has_l2",
        "penalized",
        "l1_value",
        "min_norm_subgradient",
        "gradient_norm",
    }
)
# mu = _DAMPING * |g|_D without an L2 term (benchmarks/results/notes.md).
_DAMPING = 1.0
# CG steps per Newton iteration at most (a truncated direction is still a descent one).
_MAX_CG = 200
# CG steps at most for the suboptimality estimate of a run that stopped without one.
_REPORT_CG = 20
# The Newton decrement of a CG iterate is a lower bound on g^T H^-1 g / 2, and
# the quadratic model's, which underestimated the suboptimality by up to 2x
# on a rare class (benchmarks/results/defaults.md): taken times this. Checked
# at a CG residual of 0.5 instead of 0.1 it was 6x too low on a near-separable
# problem with C=1e6 (tests/test_stopping.py's weak_penalty).
_ESTIMATE_SAFETY = 2.0
# Safety factor of the estimate carried from the step that reached an iterate.
_CARRY_SAFETY = 4.0
# Relative CG residual at which the suboptimality part of the stopping rule is checked.
_EARLY_RTOL = 0.1


def _decrement(pg, d):
    """The conservative estimate of ``F - F*`` from a Newton direction ``d`` at ``pg``."""
    return -_ESTIMATE_SAFETY * 0.5 * float(pg @ d)


def _after_step(g, d, residual, s, decrease):
    """A conservative estimate of ``F - F*`` after the step ``s = t d`` along
    the CG direction ``d`` (relative residual ``residual``) that decreased the
    objective by ``decrease``; None when ``s`` is not along ``d`` (projected).

    In the quadratic model at the previous iterate, with ``delta = -g.d / 2``
    (CG's iterate has ``d.(H d + g) = 0``), the step predicts the decrease
    ``delta (2t - t^2)`` and leaves ``delta (1 - t)^2`` plus CG's unsolved part,
    taken as ``residual^2 delta``; how far the objective's actual decrease is
    from the prediction measures how far the model is from the objective. Near
    the optimum Newton's quadratic convergence makes this tiny, and checking it
    costs nothing, where a fresh CG solve at the new point costs several passes.
    Trusted only where CG got below ``_EARLY_RTOL`` and the actual decrease is
    within half of the predicted one: elsewhere (a loose CG solve on unscaled
    features, the first steps on a near-separable problem) it fell 10-50x below
    the true suboptimality. Where trusted, times ``_CARRY_SAFETY``, it was
    1.5-300x above the true suboptimality on the problems of
    benchmarks/bench_defaults.py; the least margin, on a rare class, where the
    model is worst (benchmarks/results/notes.md).
    """
    if residual > _EARLY_RTOL:
        return None
    t = float(s @ d) / float(d @ d)
    if not np.allclose(s, t * d, rtol=0, atol=1e-12 * max_norm(s)):
        return None
    delta = -0.5 * float(g @ d)
    predicted = delta * (2 * t - t * t)
    if not abs(decrease - predicted) <= 0.5 * predicted:
        return None
    left = delta * ((1 - t) ** 2 + residual**2) + abs(predicted - decrease)
    return _CARRY_SAFETY * left


def _conjugate_gradient(hessp, g, rtol, max_iter, diagonal, early=None, inverse=None, strict=False):
    """Approximately solve ``H d = -g`` by CG preconditioned with ``diagonal`` (or with
    ``inverse``, a function ``v -> M v`` approximating ``H^-1``, where given).

    Stops when the residual is below ``rtol * |g|`` or on a direction of
    non-positive curvature. ``early = (rtol_early, stop)``: the first time the
    residual is below ``rtol_early * |g|``, ``stop(d)`` is asked whether the
    current ``d`` is enough; if CG never got there (cut short by ``max_iter``, a
    flat direction, or its own ``rtol`` above ``rtol_early``), it is asked at the
    end unless ``strict``. Returns ``(d, stopped_early, residual)``, the last
    being ``|H d + g| / |g|``.
    """
    d = np.zeros_like(g)
    r = -g.copy()
    if inverse is None:
        inverse = lambda v: v / diagonal  # noqa: E731
    z = inverse(r)
    p = z.copy()
    rz = float(r @ z)
    gg = float(r @ r)
    target = (rtol**2) * gg
    early_target = -1.0 if early is None else early[0] ** 2 * gg
    rr = gg
    for _ in range(max_iter):
        if not rz > 0:  # ``inverse`` not positive definite in rounding: keep what we have
            break
        Hp = hessp(p)
        curvature = float(p @ Hp)
        if curvature <= 1e-16 * rz:  # flat or negative direction: keep what we have
            if not d.any():
                d = z
            break
        alpha = rz / curvature
        d += alpha * p
        r -= alpha * Hp
        rr = float(r @ r)
        if rr <= early_target:
            if early[1](d):
                return d, True, float(np.sqrt(rr / gg))
            early_target = -1.0
        if rr <= target:
            break
        z = inverse(r)
        rz_new = float(r @ z)
        p *= rz_new / rz
        p += z
        rz = rz_new
    residual = float(np.sqrt(rr / gg)) if gg > 0 else 0.0
    if early_target >= 0 and not strict:  # never got there: ask with what there is
        return d, early[1](d), residual
    return d, False, residual


def newton_cg(
    obj,
    x0,
    *,
    tol,
    max_iter,
    verbose=0,
    target=None,
    on_iteration=None,
    diagonal=None,
    precondition=None,
    max_cg=_MAX_CG,
    strict=False,
):
    """Newton-CG from ``x0``. ``diagonal``: the Hessian diagonal estimate that scales CG
    and the damping (default the diagonal at 0, one pass); ``precondition``: an
    approximate inverse Hessian ``v -> M v`` (symmetric positive definite) for CG
    instead of ``1 / diagonal``; ``max_cg``: CG steps per iteration at most;
    ``strict``: only a decrement from a CG solve to ``_EARLY_RTOL`` stops the run or
    makes the final estimate (a CG iterate's is a lower bound of ``g^T H^-1 g / 2``;
    after the default ``max_cg`` it was close enough)."""
    monitor = Monitor("newton-cg", tol, verbose, target, on_iteration, obj.gradient_norm)
    l1_mask = obj.penalized if obj.has_l1 else None
    x = np.array(x0, dtype=np.float64)

    def value(x):
        return obj.fun(x) + obj.l1_value(x)

    f, g, hessp = obj.fun_grad_hessp(x)
    F = f + obj.l1_value(x)
    pg = obj.min_norm_subgradient(x, g)
    if diagonal is None:
        diagonal = obj.preconditioner()

    def direction(x, pg, hessp, max_cg=max_cg, early=None):
        """The (damped) Newton direction at ``x`` by CG, over the free entries,
        and whether ``early`` stopped CG (see ``_conjugate_gradient``)."""
        # Entries held at 0 by the L1 term do not move this iteration.
        free = None if l1_mask is None else ~(l1_mask & (x == 0) & (pg == 0))
        # Damping mu * D, in the preconditioner's metric (see the module docstring).
        mu = 0.0 if obj.has_l2 else _DAMPING * float(np.sqrt(pg @ (pg / diagonal)))

        def damped_hessp(v):
            hv = hessp(v) if free is None else hessp(v * free) * free
            return hv + mu * diagonal * v if mu else hv

        inverse = None  # 1 / diagonal; also with damping, which changes the matrix
        if precondition is not None and not mu:
            inverse = precondition
            if free is not None:  # CG stays on the free entries
                inverse = lambda r: precondition(r) * free  # noqa: E731
        eta = min(0.5, np.sqrt(float(np.linalg.norm(pg))))
        return _conjugate_gradient(damped_hessp, pg, eta, max_cg, diagonal, early, inverse, strict)

    n_iter = 0
    decrement = None  # -pg.d / 2 at x, once a direction d there is known
    # F - F* at x estimated from the step that led here (see _after_step): free,
    # so the fit stops where the gradient rule alone did whenever it is small.
    carried = None
    for n_iter in range(1, max_iter + 1):
        gradient_small = monitor.gradient_small(pg)
        known = carried is not None or not monitor.needs_estimate
        if gradient_small and known and monitor.converged(pg, F, carried):
            n_iter -= 1
            break
        # With a target, the stop is decided inside CG, from the decrement of its
        # iterate once the residual is below _EARLY_RTOL: a lower bound on
        # g^T H^-1 g that is tight enough there (benchmarks/results/defaults.md)
        # and costs only the few CG steps to reach it; if the rule does not
        # hold, CG goes on to the step's own accuracy and nothing is wasted.
        early = None
        if gradient_small:

            def enough(d, pg=pg, F=F):
                return monitor.converged(pg, F, _decrement(pg, d))

            early = (_EARLY_RTOL, enough)
        d, stop, residual = direction(x, pg, hessp, early=early)
        decrement = _decrement(pg, d)
        newton = (d, residual)
        if stop:
            n_iter -= 1
            break
        # Not clipped: that would break the coupling the Newton direction carries
        # (Byrd, Chin, Nocedal & Oztoprak 2012); the projection keeps the orthant.
        d, project = orthant_wise(l1_mask, x, pg, d, clip=False)
        if float(pg @ d) >= 0 or not d.any():  # not a descent direction: use -pg
            d, project = orthant_wise(l1_mask, x, pg, -pg)
            newton = None

        def flat_ok(x_new, pg=pg):
            return max_norm(obj.min_norm_subgradient(x_new, obj.fun_grad(x_new)[1])) < max_norm(pg)

        accepted = backtrack(x, d, F, pg, project, value, flat_ok, obj.eps)
        if accepted is None:
            monitor.line_search_failed()
            break
        step = max_norm(accepted[0] - x)
        carried = (
            None if newton is None else _after_step(pg, *newton, accepted[0] - x, F - accepted[1])
        )
        x, decrement = accepted[0], None
        f, g, hessp = obj.fun_grad_hessp(x)
        F = f + obj.l1_value(x)
        pg = obj.min_norm_subgradient(x, g)
        if monitor.record(n_iter, x, F, pg, step):
            break
    if decrement is None and monitor.needs_estimate:  # a short solve, for the report only
        decrement = carried
        if decrement is None:
            d, _, residual = direction(x, pg, hessp, max_cg=_REPORT_CG)
            decrement = _decrement(pg, d)
            if strict and residual > _EARLY_RTOL:
                decrement = float("nan")  # not converged: nothing trustworthy says so
    return monitor.result(x, n_iter, pg, F, decrement)


# confirm(): at most CONFIRM_STEPS Newton-CG iterations of at most CONFIRM_CG CG steps (one
# pass each). Quasi-Newton estimates from a few curvature pairs missed near-separable
# directions: lbfgs at the default tol said converged 2-200x above tol on 8 of 20 problems
# (breast cancer, wine, digits, iris at C up to 1e4), sgd 2.2e-3 and 0.68 above the
# optimum; figures and the choice of 2 and 50 in benchmarks/results/notes.md.
CONFIRM_STEPS, CONFIRM_CG = 2, 50
# lbfgs / owlqn take the check up to this many coefficients (where solver="auto" runs
# newton-cg): on the bench_fit problems above it (1,010 to 100,000 coefficients, where
# the estimate was right) it cost 6-49 more passes at the default tol, +25-120%.
CONFIRM_MAX_SIZE = 1000
# ... and a target of at least this many times the objective's relative precision.
CONFIRM_PRECISION = 100


def confirm(
    obj, x, pairs, diagonal, *, tol, target, estimate=float("nan"), verbose=0, precondition=None
):
    """A short, strict Newton-CG run from ``x``, where a quasi-Newton solver's estimate
    says the stopping rule holds: it confirms the rule with Newton's own estimate (CG
    to a residual of ``_EARLY_RTOL``, preconditioned by the inverse Hessian of the
    curvature ``pairs`` over ``diagonal``, or by ``precondition``, a function, where
    given), or gets there, or returns a lower point with ``converged`` False.
    ``n_iter`` counts its Newton iterations. Where it converged with no estimate of
    its own (its objective below ``tol``), the caller's ``estimate`` is reported;
    where it did not, nan stays (nothing trustworthy)."""
    if precondition is None and pairs:
        precondition = inverse_hessian(list(pairs), diagonal)
    result = newton_cg(
        obj,
        x,
        tol=tol,
        max_iter=CONFIRM_STEPS,
        target=target,
        verbose=verbose,
        diagonal=diagonal,
        precondition=precondition,
        max_cg=CONFIRM_CG,
        strict=True,
    )
    if result.converged:  # the rule's words, whatever ended Newton's run
        message = RULE_MESSAGE if result.suboptimality <= target else LOSS_MESSAGE
        estimate = estimate if np.isnan(result.suboptimality) else result.suboptimality
        result = dataclasses.replace(result, message=message, suboptimality=float(estimate))
    return result


def can_confirm(obj, target, size=0):
    """Whether ``confirm`` can tell: a target within ``CONFIRM_PRECISION`` times the
    objective's precision leaves CG short of its residual in rounding (float32 at
    tol=1e-6: 2 x 50 CG passes spent, nothing confirmed), and above
    ``CONFIRM_MAX_SIZE`` coefficients (``size``) lbfgs's own estimate held."""
    return (
        target is not None and target >= CONFIRM_PRECISION * obj.eps and (size <= CONFIRM_MAX_SIZE)
    )
