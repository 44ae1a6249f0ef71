"""Sampled softmax training (``n_sampled_classes``): steps that touch a few classes only.

Per minibatch, the candidates are the batch's own classes plus ``m`` negatives
drawn (with replacement, shared by the batch's rows) from a proposal ``Q``;
every candidate's logit is lowered by ``log(m * Q(c))``, its expected count
in the sample, and a row's own class drawn as a negative (an accidental hit)
is not a negative of that row (``_blocks.sampled_loss_gradient``; TensorFlow's
``sampled_softmax_loss``; Jean et al. 2015; Bengio & Senécal 2008). The step
reads and writes only the candidates' columns of the coefficients and of the
optimizer state, so its work and memory are proportional to the candidates,
not to the number of classes K.

The optimizer is AdaGrad per coefficient (an accumulator of squared
gradients; its initial value 0.1, as TensorFlow's), whose step size on a
column changes only when the column is a candidate. The penalty is applied
lazily: a column that was not a candidate for ``t`` steps gets, when next
touched (and at the end of each pass), the ``t`` proximal penalty steps it
missed, which with its step size fixed meanwhile are a shrinkage by
``(1 + a * l2) ** t`` then, for the L1 term, a soft threshold by ``t * a * l1``
(exact when one of the two terms is zero).

This minimises a *biased* estimate of the full objective: the sampled
cross-entropy's expectation is not the full one, and its minimiser differs.
The bias shrinks as ``m`` grows and as ``Q`` approaches the model's own
class probabilities; it matters for the probabilities (``predict_proba`` is
less well calibrated than a full-softmax fit's) more than for the ranking
(``predict``). Prediction always uses the full softmax.
"""

import numpy as np

from . import _blocks
from ._engine import single_threaded_blas
from ._solvers._base import SolverResult
from ._stochastic import rows_of

SAMPLERS = ("log_uniform", "uniform", "frequency")
_INITIAL_ACCUMULATOR = 0.1


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


def init_state(state, layout):
    """``state`` (an ``_stochastic.SGDState``) with the sampled path's fields added."""
    if state.accumulator is not None:
        return state
    return state._replace(
        accumulator=np.full((layout.n_dof, layout.k), _INITIAL_ACCUMULATOR),
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
    cdf = np.cumsum(q)
    log_expected = np.log(n_sampled * q)
    order = rng.permutation(n) if shuffle else np.arange(n)
    W = w.reshape(layout.n_dof, layout.k).copy()
    acc, last = state.accumulator.copy(), state.last_step.copy()
    t = state.n_steps
    nf = layout.n_features
    for a in range(0, n, batch_size):
        rows = np.sort(order[a : a + batch_size])
        s = weights[rows].astype(np.float64)
        if not s.sum() > 0:
            continue
        drawn = np.minimum(np.searchsorted(cdf, rng.random(n_sampled) * cdf[-1]), q.size - 1)
        cols, where = np.unique(np.concatenate([y_idx[rows], drawn]), return_inverse=True)
        negatives = np.zeros(cols.size, dtype=bool)
        negatives[where[rows.size :]] = True
        _catch_up(W, acc, last, cols, t, nf, state.eta, penalty)
        s = (s / s.sum()).astype(X.dtype)
        block = _blocks.Block(X[rows], where[: rows.size], s, None)
        coef = W[:nf, cols].astype(X.dtype)
        intercept = W[nf, cols].astype(X.dtype) if layout.fit_intercept else None
        _, g = _blocks.sampled_loss_gradient(block, coef, intercept, log_expected[cols], negatives)
        g = np.asarray(g, dtype=np.float64)
        acc[:, cols] += g**2
        W[:, cols] -= state.eta * g / np.sqrt(acc[:, cols])
        t += 1
        last[cols] = t - 1  # the penalty of this step is still due: caught up next time
    _catch_up(W, acc, last, np.arange(layout.k), t, nf, state.eta, penalty)
    state = state._replace(
        n_steps=t,
        accumulator=acc,
        last_step=last,
        class_counts=counts,
        rng=rng.bit_generator.state,
    )
    return W.ravel(), state


def _catch_up(W, acc, last, cols, t, nf, eta, penalty):
    """Apply to columns ``cols`` the proximal penalty steps they missed up to step ``t``."""
    missed = (t - last[cols]).astype(np.float64)
    last[cols] = t
    if not (penalty.l2 > 0 or penalty.l1 > 0) or not missed.any():
        return
    step = eta / np.sqrt(acc[:nf, cols])
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
    with early stopping). There is no gradient check: the full gradient costs
    what sampling saves. Returns ``(SolverResult, state)``."""
    X = rows_of(X)
    state = init_state(state, layout)
    w, message = w0, "ran max_iter epochs (sampled softmax: no gradient check)"
    epoch = 0
    for epoch in range(1, max_iter + 1):
        w, state = sampled_pass(
            X, y_idx, weights, layout, w, state, penalty=penalty, batch_size=batch_size,
            shuffle=shuffle, n_sampled=n_sampled, sampler=sampler,
        )  # fmt: skip
        if verbose > 0:
            print(f"[sgd sampled] epoch {epoch:4d}  steps {state.n_steps}", flush=True)
        if stop_early is not None and stop_early(w):
            message = "validation score stopped improving"
            break
    return SolverResult(w, epoch, True, float("nan"), message), state
