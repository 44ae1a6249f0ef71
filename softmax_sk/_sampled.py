"""Sampled softmax training (``n_sampled_classes``): steps that touch a few classes only.

Per minibatch, the candidates are the batch's own classes plus ``m`` classes
drawn independently (with replacement, shared by the batch's rows) from a
proposal ``Q``. Row ``i`` learns which class of the multiset (its own class
plus the ``m`` draws) is its label: a class drawn ``n`` times enters with the
logit ``z + log n - log Q``, its own class counting once more (a draw of its own
class, an accidental hit, is not a negative but adds to that count), and a
class neither its own nor drawn does not enter (``_blocks.sampled_loss_gradient``).
That softmax is the exact probability of the label given the multiset, so at
the true model the expected gradient is zero for any ``Q``: the estimator is
consistent. TensorFlow's ``sampled_softmax_loss`` (Jean et al. 2015; Bengio &
Senécal 2008) lowers logits by ``log(m Q)`` and removes hits instead, which is
biased for a non-uniform ``Q`` (``tests/test_sampled.py`` checks both by
enumerating every sample at K=6). The step reads and writes only the
candidates' columns of the coefficients and of the optimizer state, so its
work and memory are proportional to the candidates, not to the number of
classes K; a pass (a ``partial_fit`` call) also copies the coefficients and the
state and catches every class's penalty up once (in column blocks), O(K d).
A minibatch's gradient (its rows' weighted mean) is scaled by its weight
against the mean row weight of the rows seen (over a stream's calls too): the
weighted objective's gradient in expectation, where the mean alone gave a batch
of weight 1e-6 the pull of one of weight 1.

The optimizer is AdaGrad per coefficient, whose squared-gradient sum starts,
in place of a constant, from a calibrated model's curvature: coefficient
``(j, c)``'s step is ``eta * g / sqrt((n_dof P_jc / PRIOR_STEP)**2 + sum g**2)``
with ``P_jc = m_j f_c (1 - f_c)``, ``m_j`` the pass's mean square of feature
``j`` and ``f_c`` class ``c``'s share of the rows seen (kept within
``1 / batch_size`` of 0 and 1), the floor of the full softmax's preconditioner
(``_stochastic.curvature_floor``). A rare class's first steps are thus
preconditioned steps scaled by ``PRIOR_STEP / n_dof``, where TensorFlow's constant
start (0.1) made them small and left the tail classes underfitted
(``benchmarks/results/sampled.md``); once a coefficient's gradients add up,
AdaGrad's own scale takes over. The penalty is applied lazily: a column that
was not a candidate for ``t`` steps gets, when next touched (and at the end
of each pass), the ``t`` proximal penalty steps it missed, which with its
step size fixed meanwhile are a shrinkage by ``(1 + a * l2) ** t`` then, for
the L1 term, a soft threshold by ``t * a * l1`` (exact when one of the two
terms is zero).

The sampled cross-entropy's minimiser on finite data differs from the full
one's (the objective is an estimate of the full objective, not the objective):
the difference shrinks as ``m`` grows and as ``Q`` approaches the model's own
class probabilities; it matters for the probabilities (``predict_proba`` is
less well calibrated than a full-softmax fit's) more than for the ranking
(``predict``). Prediction always uses the full softmax.
"""

import numpy as np

from . import _blocks
from ._engine import single_threaded_blas
from ._solvers._base import SolverResult
from ._stochastic import STOPPED_EARLY, rows_of

SAMPLERS = ("log_uniform", "uniform", "frequency")
# The message of a sampled fit that ran its max_iter epochs: it checks no stopping rule,
# so convergence_["converged"] is False, and there is no ConvergenceWarning to heed.
NO_RULE = "ran max_iter epochs (sampled softmax: no stopping rule is checked)"
# A coefficient's step before its gradients add up is PRIOR_STEP / n_dof in units of the
# calibrated curvature P (see above): a rare class's first step then moves its logit on
# its own row by about PRIOR_STEP, whatever the number of features (the diagonal P
# misjudges a one-row curvature by up to n_dof). Chosen by benchmarks/probe_sampled.py at
# d=128 and d=16 (benchmarks/results/notes.md): 2-3 times more overshoots.
PRIOR_STEP = 4.0
# The pass's closing penalty catch-up (every class) works on this many bytes of columns at
# a time: its step arrays are of the columns it updates, not of all K.
_CATCH_UP_BYTES = 2**22


def applies(n_sampled, layout):
    """Whether sampled training runs: a number of samples, and more classes than that + 1."""
    return n_sampled is not None and not layout.reference and n_sampled < layout.n_classes - 1


def check_rows(data):
    """Refuse what the sampled softmax does not fit: target distributions (``y_proba``,
    or label smoothing with unequal class weights), label smoothing, offsets."""
    if data.y.ndim != 1 or data.smoothing or data.offset is not None:
        raise ValueError(
            "n_sampled_classes trains on labels only: it does not take y_proba, "
            "label_smoothing or offset. Use n_sampled_classes=None (the full softmax) "
            "for those."
        )


def init_state(state, layout, weight=None):
    """``state`` (an ``_stochastic.SGDState``) with the sampled path's fields added.

    A model that already holds ``state.seen`` weight of data (a batch fit, or a full
    softmax stream) starts AdaGrad, whose first steps are sized for a start from
    scratch, at ``eta`` times the next call's share ``weight / (seen + weight)`` of
    the weight: one 200-row chunk (k=18 of 20 classes) took a fitted model's test
    log-loss from 1.740 to 2.166 at full ``eta``, 1.786 at the share's square root,
    1.744 at the share (``tests/test_sampled.py``).
    """
    if state.accumulator is not None:
        return state
    if weight is not None and state.seen > 0:
        state = state._replace(eta=state.eta * (weight / (state.seen + weight)))
    return state._replace(
        accumulator=np.zeros((layout.n_dof, layout.k)),
        last_step=np.zeros(layout.k, dtype=np.int64),
        class_counts=np.zeros(layout.n_classes),
    )


def proposal(sampler, counts):
    """``Q``: the sampling probability of each class (float64, sums to 1).

    ``"log_uniform"``: ``Q(c) = log((c + 2) / (c + 1)) / log(K + 1)``, Zipf-like in
    the class index, which assumes classes sorted by decreasing frequency;
    ``"uniform"``: ``1 / K``; ``"frequency"``: the classes' row counts so far,
    plus one (so that a class not seen yet can be drawn).
    """
    K = counts.size
    if sampler == "uniform":
        return np.full(K, 1.0 / K)
    if sampler == "log_uniform":
        c = np.arange(K, dtype=np.float64)
        q = np.log((c + 2) / (c + 1))
    else:
        q = counts + 1.0
    return q / q.sum()


def draw(rng, cdf, m):
    """``m`` classes drawn independently (with replacement) from the proposal whose
    cumulative sums are ``cdf``."""
    return np.minimum(np.searchsorted(cdf, rng.random(m) * cdf[-1]), cdf.size - 1)


def candidates(labels, drawn):
    """``(cols, own, times)``: the distinct classes among a batch's ``labels`` and the
    ``drawn`` ones, each row's index into them, and how many times each was drawn."""
    cols, where = np.unique(np.concatenate([labels, drawn]), return_inverse=True)
    return cols, where[: labels.size], np.bincount(where[labels.size :], minlength=cols.size)


def sampled_pass(
    X, y_idx, weights, layout, w, state, *, penalty, batch_size, shuffle, n_sampled, sampler
):
    """One pass over a chunk of rows; returns ``(w, state)``."""
    args = (X, y_idx, weights, layout, w, state, penalty, batch_size, shuffle, n_sampled, sampler)
    if X.shape[0] <= batch_size:  # one step: not worth threadpoolctl's cost of limiting BLAS
        return _pass(*args)
    with single_threaded_blas():  # many small products: BLAS threads cost more than they give
        return _pass(*args)


def _pass(X, y_idx, weights, layout, w, state, penalty, batch_size, shuffle, n_sampled, sampler):
    rng = np.random.default_rng()
    rng.bit_generator.state = state.rng
    n = X.shape[0]
    counts = state.class_counts + np.bincount(y_idx, minlength=layout.n_classes)
    q = proposal(sampler, counts)
    cdf, log_q = np.cumsum(q), np.log(q)
    # each class's share, kept from 0 and 1 so that its curvature f (1 - f) is positive
    low = min(1.0 / batch_size, 0.5)
    f = np.clip(counts / counts.sum(), low, 1.0 - low)
    curvature = _feature_squares(X, weights, layout), f * (1 - f)
    order = rng.permutation(n) if shuffle else np.arange(n)
    # a minibatch's gradient is its rows' weighted mean times their weight against the mean
    # row weight of all rows seen (this pass's alone where the state's counts carry no
    # weight: a state of 0.6.1): the weighted objective's gradient in expectation (the
    # weighted mean alone gave a batch of weight 1e-6 the pull of one of weight 1)
    weight = float(np.sum(weights, dtype=np.float64))
    known = state.sampled_weight > 0 or not state.class_counts.any()
    seen = state.sampled_weight + weight if known else None
    mean_weight = seen / counts.sum() if known else weight / n
    W = w.reshape(layout.n_dof, layout.k).copy()
    acc, last = state.accumulator.copy(), state.last_step.copy()
    t = state.n_steps
    nf = layout.n_features
    for a in range(0, n, batch_size):
        rows = np.sort(order[a : a + batch_size])
        s = weights[rows].astype(np.float64)
        total = s.sum()
        if not total > 0:
            continue
        cols, own, times = candidates(y_idx[rows], draw(rng, cdf, n_sampled))
        _catch_up(W, acc, curvature, last, cols, t, nf, state.eta, penalty)
        s = (s / s.sum()).astype(X.dtype)
        block = _blocks.Block(X[rows], own, s, None)
        coef = W[:nf, cols].astype(X.dtype)
        intercept = W[nf, cols].astype(X.dtype) if layout.fit_intercept else None
        _, g = _blocks.sampled_loss_gradient(block, coef, intercept, log_q[cols], times)
        g = np.asarray(g, dtype=np.float64) * (total / (rows.size * mean_weight))
        acc[:, cols] += g**2
        W[:, cols] -= _step(state.eta, acc, curvature, cols) * g
        t += 1
        last[cols] = t - 1  # the penalty of this step is still due: caught up next time
    span = max(1, _CATCH_UP_BYTES // (8 * layout.n_dof))  # columns at a time: bounded arrays
    for a in range(0, layout.k, span):
        _catch_up(W, acc, curvature, last, np.arange(a, min(a + span, layout.k)), t, nf,
                  state.eta, penalty)  # fmt: skip
    state = state._replace(
        n_steps=t,
        accumulator=acc,
        last_step=last,
        class_counts=counts,
        rng=rng.bit_generator.state,
        sampled_weight=seen if known else 0.0,
    )
    return W.ravel(), state


def _feature_squares(X, weights, layout):
    """``(n_dof,)``: each feature's weighted mean square over the pass's rows (1 for the
    intercept), the ``m_j`` of the calibrated curvature."""
    block = _blocks.Block(X, None, weights / weights.sum(), None)
    (m,) = _blocks.second_moment(block)
    return np.append(m, 1.0) if layout.fit_intercept else m


def _step(eta, acc, curvature, cols):
    """AdaGrad's step sizes of the columns ``cols``, its sum of squared gradients
    started from the calibrated curvature ``m_j h_c`` (``curvature = (m, h)``)."""
    m, h = curvature
    prior = np.outer(m, h[cols]) * (m.size / PRIOR_STEP)
    scale = np.sqrt(prior**2 + acc[:, cols])
    # A feature that is zero on every row seen has neither curvature nor gradient: it
    # does not move (and its penalty waits), rather than a 0 * inf step.
    return np.divide(eta, scale, out=np.zeros_like(scale), where=scale > 0)


def _catch_up(W, acc, curvature, last, cols, t, nf, eta, penalty):
    """Apply to columns ``cols`` the proximal penalty steps they missed up to step ``t``."""
    missed = (t - last[cols]).astype(np.float64)
    last[cols] = t
    if not (penalty.l2 > 0 or penalty.l1 > 0) or not missed.any():
        return
    step = _step(eta, acc, curvature, cols)[:nf]
    block = W[:nf, cols]
    if penalty.l2 > 0:
        block /= (1.0 + step * penalty.l2) ** missed
    if penalty.l1 > 0:
        block[...] = np.sign(block) * np.maximum(np.abs(block) - missed * step * penalty.l1, 0.0)
    W[:nf, cols] = block


def fit(
    X,
    y_idx,
    weights,
    layout,
    w0,
    state,
    *,
    penalty,
    batch_size,
    shuffle,
    n_sampled,
    sampler,
    max_iter,
    verbose=0,
    stop_early=None,
):
    """``fit(solver="sgd", n_sampled_classes=m)``: ``max_iter`` sampled passes (or fewer,
    with early stopping). There is no stopping rule (``NO_RULE``: not converged, and no
    ``ConvergenceWarning``): the full gradient costs what sampling saves. Returns
    ``(SolverResult, state)``."""
    X = rows_of(X)
    state = init_state(state, layout)
    w, message = w0, NO_RULE
    epoch = 0
    for epoch in range(1, max_iter + 1):
        w, state = sampled_pass(
            X, y_idx, weights, layout, w, state, penalty=penalty, batch_size=batch_size,
            shuffle=shuffle, n_sampled=n_sampled, sampler=sampler,
        )  # fmt: skip
        if verbose > 0:
            print(f"[sgd sampled] epoch {epoch:4d}  steps {state.n_steps}", flush=True)
        if stop_early is not None and stop_early(w):
            message = STOPPED_EARLY
            break
    return SolverResult(w, epoch, False, float("nan"), message), state
