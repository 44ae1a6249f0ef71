"""The estimator's side of stochastic fitting: ``fit(solver="sgd")`` and ``partial_fit``.

The optimizer itself is ``_stochastic``; this module turns the estimator's
parameters into its options, holds out the early-stopping split, validates a
``partial_fit`` call against the classes fixed on the first one, and reads
``C`` for a stream (see ``partial_fit``).
"""

import math
import warnings

import numpy as np
import scipy.sparse as sp
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import ShuffleSplit, StratifiedShuffleSplit
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import column_or_1d, validate_data

from . import _sampled, _stochastic, _targets
from ._engine import resolve_threads
from ._layout import Layout
from ._penalty import ElasticNet

# batch_size="auto": rows per minibatch (fewer when the data has fewer). The sampled
# softmax and partial_fit with an L1 term take _AUTO_BATCH. fit's SVRG (L-BFGS pairs, and
# the secant step without L1; OWL-QN's steps with L1, see benchmarks/results/notes.md for
# the elastic net's figures) takes n / _AUTO_STEPS,
# and at least two rows per class, within [_AUTO_BATCH, _AUTO_MAX], in equal batches. Gap
# to the optimum after 20 epochs on bench_sgd's problems at scale 0.2 (with the secant
# step): digits (1437 rows) 2.9e-4 at 256 rows, 7.2e-4 at 512, 2.3e-3 at 1,024;
# mnist_50k_784 (8000 x 784) 6.0e-4 at 256, 1.2e-4 at 512, 5.5e-5 at 1,000;
# classes_50k_1000 (K=994) 2.5e-3 at 256, 6.1e-4 at 1,000, 3.5e-4 at 2,000 (9.8e-3 at
# 1,988: its last batch of 48 rows).
# partial_fit without L1 takes _STREAM_ROOT * sqrt(rows of the call), within the same
# bounds, in equal batches: test log-loss after one epoch of dense_100k_100-like streams
# (float32, C=1; measured before the stream's curvature pairs and CALL_STEPS, which now
# also bound a long call's movement) in chunks of 2,000 rows: 0.981 at 256, 1.044 at
# 512; of 10,000: 0.954 at 256, 0.950 at 512, 0.961 at 1,024; of 50,000: 0.965 at 256,
# 0.960 at 1,024, 0.963 at 2,048; of 100,000: 0.956 at 1,024, 0.955 at 2,048, 0.959 at
# 4,096 (optima 0.944-0.957).
_AUTO_BATCH = 256
_AUTO_STEPS = 8
_AUTO_MAX = 4096
# ... and with few enough rows that a minibatch's rows x classes array (a step holds about
# three) takes at most this many bytes in float64: at K=100,000 a batch of 4,096 rows would
# hold 3.3 GB an array; the cap lowers the batch above K=8,192 classes (335 rows at 100,000).
_AUTO_BATCH_BYTES = 2**28
_STREAM_ROOT = 5
# partial_fit warns when a batch of at least DIVERGED_ROWS rows of positive weight has a
# mean log-loss at the incoming model above DIVERGED times log(K), that of equal
# probabilities (a fresh model's). Over normal streams (bench_stream.py's 2,000-row chunks,
# the tests' distribution problem in chunks of 50-1,000 rows, digits in 200) that ratio
# stayed at most 1 after the first call (a review helper's scan of imbalanced classes, K up
# to 1,000, smoothing, weights, float32, sparse, L1, C from 1e-3 to inf: at most 2.9);
# make_classification(3000, 10) in 300-row calls (tests/test_stochastic.py) reached 38 at
# the third call with eta0=3, 6.9 at the second and 1,600 at the third with eta0=10.
# Smaller calls are not judged: a row with extreme features can cost any loss
# (standardised digits in one-row calls: 1,100 times log(K) once in 1,797 calls, while the
# stream was fine).
DIVERGED, DIVERGED_ROWS = 3, 256
# The warning's stack level: the line that called partial_fit (through available_if,
# _fit_context, _restoring, _partial_fit and partial_fit here).
STACKLEVEL = 7


def options(est, n_samples, layout=None, *, stream=False):
    """``(batch_size, shuffle)`` for ``n_samples`` rows from the estimator's parameters;
    ``layout`` is given by ``fit(solver="sgd")``, and by ``partial_fit`` (``stream``)
    without an L1 term, whose full softmax has its own ``"auto"`` batch size."""
    batch = _AUTO_BATCH if est.batch_size == "auto" else int(est.batch_size)
    if est.batch_size == "auto" and not (
        layout is None or _sampled.applies(est.n_sampled_classes, layout)
    ):
        if stream:
            wanted = int(_STREAM_ROOT * np.sqrt(n_samples))
        else:
            wanted = max(n_samples // _AUTO_STEPS, 2 * layout.n_classes)
        top = max(_AUTO_BATCH, min(_AUTO_MAX, _AUTO_BATCH_BYTES // (8 * layout.k)))
        wanted = max(_AUTO_BATCH, min(wanted, top))
        n_batches = max(1, n_samples // wanted)
        if -(-n_samples // n_batches) > top:  # rounding down went past the cap
            n_batches = -(-n_samples // top)
        batch = -(-n_samples // n_batches)  # equal batches, no small remainder
    return max(1, min(batch, n_samples)), bool(est.shuffle)


def fresh_state(est, layout):
    """A new optimizer state; ``eta0="auto"``: 0.1 for SVRG's preconditioned steps, 1.0
    for the sampled softmax's AdaGrad (benchmarks/results/sgd.md, sampled.md)."""
    eta0 = est.eta0
    if eta0 == "auto":
        eta0 = 1.0 if _sampled.applies(est.n_sampled_classes, layout) else 0.1
    return _stochastic.init(eta0, est.random_state)


def fit_sgd(est, data, layout, penalty, x0, *, labels, scales, n_threads):
    """``fit(solver="sgd")`` on ``data`` (``_stochastic.Rows``): ``(SolverResult, state)``.

    With ``early_stopping``, a ``validation_fraction`` of the rows is held out
    (stratified by ``labels`` where every class has enough rows; drawn with
    ``random_state``); the penalty is then that of the remaining rows' weight, and
    the fit stops when the held-out accuracy against ``labels`` (each row's class,
    or its most probable class of ``y_proba``, before smoothing and class weights)
    has not improved by more than ``tol`` for ``n_iter_no_change`` epochs.
    """
    stop_early = None
    if est.early_stopping:
        train, val = _split(est, labels)
        if not np.sum(data.weights[train]) > 0:
            raise ValueError(
                "early_stopping held out every row of positive weight (validation_fraction="
                f"{est.validation_fraction}), leaving none to train on: pass more rows of "
                "positive weight, or set early_stopping=False."
            )
        held_out = data.take(val)
        stop_early = _NoImprovement(
            layout, held_out, labels[val], float(est.tol), est.n_iter_no_change
        )
        data = data.take(train)
        penalty = ElasticNet.from_C(
            est.C, est.l1_ratio, data.weights, layout.penalized(), scales=scales
        )
    batch_size, shuffle = options(est, data.X.shape[0], layout)
    # a later partial_fit reads C per weight seen: the rows' weight in the user's units
    seen = float(np.sum(data.weights)) * math.prod(scales)
    if _sampled.applies(est.n_sampled_classes, layout):
        _sampled.check_rows(data)
        state = _warm_sampled(est, layout, x0, fresh_state(est, layout), seen)
        result, state = _sampled.fit(
            data.X, data.y, data.weights, layout, x0, state, penalty=penalty,
            batch_size=batch_size, shuffle=shuffle, n_sampled=int(est.n_sampled_classes),
            sampler=est.sampler, max_iter=int(est.max_iter), verbose=int(est.verbose),
            stop_early=stop_early,
        )  # fmt: skip
    else:
        result, state = _stochastic.fit(
            data,
            layout,
            x0,
            fresh_state(est, layout),
            penalty=penalty,
            batch_size=batch_size,
            shuffle=shuffle,
            adaptive=est.learning_rate == "adaptive",
            max_iter=int(est.max_iter),
            tol=float(est.tol),
            verbose=int(est.verbose),
            n_threads=n_threads,
            stop_early=stop_early,
            target=est._target(),
        )
    _check_finite(result.x, data.X.dtype, est)
    return result, state._replace(seen=seen)


def _check_finite(w, dtype, est):
    """Raise where the steps diverged (coefficients not finite in ``dtype``): the model
    is assigned only after this, so it stays as it was."""
    with np.errstate(over="ignore"):
        if np.isfinite(np.asarray(w, dtype=dtype)).all():
            return
    raise ValueError(
        f"solver='sgd' diverged: its steps left coefficients that are not finite in "
        f"{np.dtype(dtype)} (eta0={est.eta0!r}, learning_rate={est.learning_rate!r}). "
        "Start again with a smaller eta0 (or eta0='auto'), or scale the features; the "
        "model is left as it was."
    )


def _warm_sampled(est, layout, x0, state, weight):
    """The sampled softmax's state for a fit from ``x0``: on a warm start, the previous
    sampled fit's (AdaGrad's step, sums and generator: the fit goes on as one longer fit
    would), or for another fitted model AdaGrad at ``eta`` times this fit's share
    ``weight / (seen + weight)`` of the weight, as ``partial_fit`` fine-tunes
    (``_sampled.init_state``). A fresh AdaGrad took a sampled fit's test log-loss from
    1.83 to 2.28 in one epoch."""
    if not (est.warm_start and np.any(x0)):
        return state
    previous = getattr(est, "optimizer_state_", None)
    shape = (layout.n_dof, layout.k)
    if previous is not None and getattr(previous.accumulator, "shape", None) == shape:
        return state._replace(
            eta=previous.eta,
            n_steps=previous.n_steps,
            rng=previous.rng,
            accumulator=previous.accumulator.copy(),
            last_step=previous.last_step.copy(),
            class_counts=previous.class_counts.copy(),
            sampled_weight=previous.sampled_weight,
        )
    if previous is not None:  # a stream's state knows the weight it has seen
        seen = previous.seen
    else:
        seen = getattr(est, "_fitted_with", {}).get("weight") or 0.0
    return _sampled.init_state(state._replace(seen=seen), layout, weight)


def _split(est, y_idx):
    """Training and validation rows: stratified, or plainly shuffled when some class has
    too few rows to appear on both sides."""
    rows = np.zeros((y_idx.size, 1))
    kwargs = {"test_size": est.validation_fraction, "random_state": est.random_state}
    try:
        return next(StratifiedShuffleSplit(**kwargs).split(rows, y_idx))
    except ValueError:
        return next(ShuffleSplit(**kwargs).split(rows))


class _NoImprovement:
    """Early stopping: True once the held-out accuracy has not improved by more than
    ``tol`` for ``patience`` epochs in a row.

    The accuracy of the predicted class against ``labels`` is weighted as the objective
    weights rows (sample times class weight, where scikit-learn's ``SGDClassifier`` weighs
    by sample weight alone: ``class_weight='balanced'`` scores balanced accuracy; plain
    where the held-out rows weigh nothing) and taken in blocks of rows whose logits stay
    under ``_AUTO_BATCH_BYTES``, never as one held-out rows x classes array."""

    def __init__(self, layout, held_out, labels, tol, patience):
        self.layout, self.y = layout, labels
        self.held_out = held_out._replace(X=_stochastic.rows_of(held_out.X))
        weights = held_out.weights
        self.weights = weights if np.sum(weights) > 0 else None
        self.block = max(1, _AUTO_BATCH_BYTES // (8 * layout.n_classes))
        self.tol, self.patience = tol, patience
        self.best, self.waited = -np.inf, 0

    def __call__(self, w):
        X, offset = self.held_out.X, self.held_out.offset
        coef, intercept = self.layout.unpack(w, X.dtype)
        hits = np.empty(X.shape[0], dtype=bool)
        for a in range(0, X.shape[0], self.block):
            rows = slice(a, a + self.block)
            z, row_scale = self.layout.logits(X[rows], coef, intercept)
            if offset is not None:
                z = _targets.add_offset(z, row_scale, offset[rows])
            hits[rows] = z.argmax(axis=1) == self.y[rows]
        score = float(np.average(hits, weights=self.weights))
        if score > self.best + self.tol:
            self.best, self.waited = score, 0
            return False
        self.waited += 1
        return self.waited >= self.patience


def partial_fit(est, X, y, classes, sample_weight, *, checks):
    """One pass of the stochastic solver over a batch; sets the fitted attributes.

    ``checks`` is the estimator module's ``(reject_multioutput, check_sample_weight)``.
    """
    reject_multioutput, check_sample_weight = checks
    first = not hasattr(est, "classes_")
    X, y = validate_data(
        est, X, y, accept_sparse=["csr", "csc"], dtype=[np.float64, np.float32],
        multi_output=True, reset=first,
    )  # fmt: skip
    reject_multioutput(y)
    y = column_or_1d(y, warn=True)
    if first:  # later calls' labels are checked to be among these classes
        check_classification_targets(y)
    all_classes = _stream_classes(est, classes, first)
    y_idx = np.searchsorted(all_classes, y)
    unknown = (y_idx >= all_classes.size) | (
        all_classes[np.minimum(y_idx, all_classes.size - 1)] != y
    )
    if unknown.any():
        raise ValueError(
            f"y contains the label {y[unknown][0].tolist()!r}, which is not among the classes "
            f"{all_classes.tolist()} fixed on the first call to partial_fit. Pass every "
            "label the stream can contain as classes= on the first call."
        )
    sample_weight = check_sample_weight(sample_weight, X.shape[0])
    K, eps = all_classes.size, float(est.label_smoothing)
    totals = _targets.class_totals(y_idx, None, sample_weight, K, eps)
    targets = _targets.resolve(
        y_idx, None, K, sample_weight, est._class_weights(all_classes, totals), eps
    )
    weights = targets.weights
    data = _stochastic.Rows(X, targets.y, weights, None, targets.smoothing)
    total = float(weights.sum())
    if not (total > 0 and np.isfinite(total)):
        raise ValueError(
            "The sample weights times the class weights of this batch sum to "
            f"{total}; they must have a positive, finite sum."
        )

    layout = Layout(X.shape[1], all_classes.size, bool(est.fit_intercept))
    fitted = not first and layout.fits(getattr(est, "coef_", None), est.classes_, all_classes)
    w = layout.pack(est.coef_, est.intercept_) if fitted else layout.zeros()
    state = getattr(est, "optimizer_state_", None) if fitted else None
    if state is None:  # a stream's start, or a batch fit's model: C read per its weight
        seen = (getattr(est, "_fitted_with", {}).get("weight") or 0.0) if fitted else 0.0
        state = fresh_state(est, layout)._replace(seen=seen)
    elif not _state_fits(state, layout):  # set_params(fit_intercept=...) since the last call
        state = _stochastic.SGDState(state.eta, state.n_steps, state.seen, state.rng)
    # C is read per unit of weight seen so far (this batch included).
    penalty = ElasticNet.from_C(
        est.C, est.l1_ratio, np.array([state.seen + total]), layout.penalized()
    )
    batch_size, shuffle = options(est, X.shape[0], None if penalty.has_l1 else layout, stream=True)
    if _sampled.applies(est.n_sampled_classes, layout):
        _sampled.check_rows(data)
        w, state = _sampled.sampled_pass(
            _stochastic.rows_of(X), y_idx, weights, layout, w,
            _sampled.init_state(state, layout, total)._replace(seen=state.seen + total),
            penalty=penalty, batch_size=batch_size, shuffle=shuffle,
            n_sampled=int(est.n_sampled_classes), sampler=est.sampler,
        )  # fmt: skip
        _check_finite(w, X.dtype, est)
    else:
        incoming = w
        w, state, value = _stochastic.one_pass(
            data, layout, w, state, penalty=penalty, batch_size=batch_size,
            shuffle=shuffle, n_threads=threads(est, X, layout),
        )  # fmt: skip
        _check_finite(w, X.dtype, est)  # before judging a diverged call's loss
        if np.count_nonzero(weights) >= DIVERGED_ROWS:
            _warn_if_diverging(value, penalty, incoming, K, state.eta)
    return all_classes, layout.unpack(w, X.dtype), state


def _warn_if_diverging(value, penalty, w, n_classes, eta):
    """Warn where a call's data term at the incoming model (its mean log-loss: the
    objective ``value`` less the penalty's share) is above ``DIVERGED`` times
    ``log(n_classes)``. Where the penalty's share is too large for that difference to
    be exact (coefficients of 1e70 and more), the objective itself is judged."""
    share = penalty.smooth_value(w) + penalty.l1_value(w)
    bound = DIVERGED * math.log(n_classes)
    loss = value - share if abs(share) * 1e-12 < math.log(n_classes) else value
    if loss <= bound:
        return
    warnings.warn(
        f"partial_fit: on this batch the model's mean log-loss is {loss:.3g}, more than "
        f"{DIVERGED} times that of giving every class the same probability (log("
        f"{n_classes}) = {math.log(n_classes):.3g}). Either the stream's steps are "
        f"diverging (its step is {eta:g}, taken from eta0 when the stream started: start "
        "it again with a smaller eta0), or the model does not carry over to this batch (a "
        "batch of another scale or labelling than the earlier ones, or a model overfitted "
        "to them).",
        ConvergenceWarning,
        stacklevel=STACKLEVEL,
    )


def streamable(est):
    """True when the estimator's parameters allow ``partial_fit`` (``available_if``):
    stochastic steps keep neither bounds nor the grouped lasso. Otherwise raises the
    AttributeError that ``hasattr(est, "partial_fit")`` turns into False."""
    bounded = est.coef_bounds is not None or est.intercept_bounds is not None
    if bounded or (est.l1_type == "grouped" and est.l1_ratio > 0):
        raise AttributeError(
            "partial_fit takes stochastic steps, which handle neither coef_bounds / "
            "intercept_bounds nor the grouped lasso (l1_type='grouped'): fit(X, y) with "
            "solver='auto' handles both, or drop them for a stream."
        )
    return True


def _state_fits(state, layout):
    """Whether the state's arrays are of ``layout`` (``fit_intercept`` may have changed)."""
    flat = (state.curvature, state.anchor_w, state.memory)
    return all(a is None or a.size == layout.size for a in flat) and (
        state.accumulator is None or state.accumulator.shape == (layout.n_dof, layout.k)
    )


def threads(est, X, layout):
    """Threads for the anchor passes, as ``fit`` chooses them (``n_jobs``)."""
    return resolve_threads(est.n_jobs, sp.issparse(X) or layout.n_classes > 32)


def _stream_classes(est, classes, first):
    """The stream's classes: ``classes`` on the first call, checked against ``classes_`` later."""
    if first:
        if classes is None:
            raise ValueError(
                "classes must be passed on the first call to partial_fit: every label "
                "the stream can contain, e.g. classes=np.unique(y_all)."
            )
        classes = np.unique(column_or_1d(classes))
        # each twice: unique by definition, they must not trip the warning that more than
        # half the labels are unique (and filtering warnings is not thread-safe)
        check_classification_targets(np.repeat(classes, 2))
        if classes.size < 2:
            raise ValueError(
                f"classes={classes.tolist()} has fewer than 2 distinct labels; softmax "
                "regression needs at least 2."
            )
        return classes
    if classes is not None and not np.array_equal(np.unique(classes), est.classes_):
        raise ValueError(
            f"classes={np.unique(classes).tolist()} is not the same as the classes_ "
            f"{est.classes_.tolist()} of the fitted model: classes are fixed by the first "
            "call to partial_fit (or by fit)."
        )
    return est.classes_
