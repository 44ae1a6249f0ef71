"""Stochastic fitting: minibatch proximal SVRG for ``fit(solver="sgd")`` and ``partial_fit``.

The optimizer is an ``init`` / ``update`` pair whose state (``SGDState``, a
NamedTuple of plain values) is kept apart from the coefficients, as optax's
gradient transformations are: ``update(grad, state, w, ...)`` returns the new
coefficients and the new state and changes neither input, so a state can be
stored on the estimator, pickled, and resumed in another process.

One *pass* over a chunk of rows (all the data in ``fit``, one call's data in
``partial_fit``) is proximal SVRG (Johnson & Zhang 2013; Xiao & Zhang 2014,
Prox-SVRG) with a diagonal preconditioner:

1. the anchor: the chunk's exact gradient ``mu`` at the current coefficients
   ``v`` (one pass, through the data term's engine, so threads apply), which
   keeps every row's probabilities at ``v`` (up to ``KEEP_BYTES`` or X's size);
2. for each minibatch ``B`` of a shuffled order:
   ``g = grad_B(w) - grad_B(v) + mu`` and
   ``w <- prox(w - eta * g / P)``, with ``P`` the chunk's Hessian diagonal of
   the smooth objective at ``v`` (one more pass; ``fit`` takes it at its first
   anchor only, ``partial_fit`` as the weight seen doubles), at least that of
   a calibrated model (``curvature_floor``), and the proximal step the L1
   term's soft threshold per entry (so ``coef_`` has exact zeros).

The minibatches are ``Block``s of the data term whose weights are the
batch's normalised to sum 1 (the batch's weighted mean cross-entropy), and
``grad_B(w) - grad_B(v)`` is the block function
``_blocks.gradient_difference``: the targets cancel, and with the anchor's
probabilities a step costs one product each way. The correction ``- grad_B(v) + mu`` makes
the step's expectation the chunk's full gradient at ``w`` and its variance
vanish as ``w`` and ``v`` approach the optimum, so a constant step converges
(to the chunk's optimum) where plain SGD needs a decaying one.

The steps also follow L-BFGS's inverse-Hessian estimate
(the batch solver's two-loop recursion, started from ``1 / P`` scaled by the
last pair) from the last ``MEMORY`` curvature pairs: whole-data curvature at
the price of a few vector products per step, as stochastic L-BFGS methods do
(Moritz, Nishihara & Jordan 2016). ``fit``'s pairs are successive anchors
``(v_e - v_{e-1}, mu_e - mu_{e-1})``; ``partial_fit``'s, whose anchors are of
different rows, are the move between anchors and a Hessian-vector product
along it on a few minibatches of the call's rows (Byrd, Hansen, Nocedal &
Singer 2016). The recursion is applied in its compact form, built once per pass
(``inverse_hessian``). With an L1 term ``fit``'s steps are OWL-QN's (``update``),
and ``partial_fit``'s stay diagonal proximal steps. The same product carries
``partial_fit``'s remembered gradients of earlier calls to its anchor, whose
gradient is their discounted mean with the call's own (``_remembered``).

With adaptive steps (and no L1 term), ``fit`` ends an epoch with a line step
along its displacement ``d = w - v``: both anchors' exact gradients give the
slope of the objective along ``d`` at ``v`` and at ``w``, and the step ``t``
where the secant through them vanishes is the minimum of the quadratic that
fits them. When ``t`` is off 1 by more than 10%, the objective at ``v + t d``
is evaluated (one more pass) and taken if lower than at ``w``; a ``t`` below
1/2 also halves ``eta``. An epoch that fell short (small early steps) is so
stretched, up to ``MAX_STEP`` times, and one that overshot is pulled back
instead of being wasted; an epoch costs at most 3 passes (two anchors, the
minibatch steps). ``benchmarks/results/sgd.md`` has the
gaps to the optimum per epoch; ``stream.md`` compares with scikit-learn's SGD.
"""

import dataclasses
from collections import deque
from typing import NamedTuple

import numpy as np
import scipy.sparse as sp
from sklearn.utils import check_random_state

from ._blocks import Block, gradient_difference, hessp, weighted_probabilities
from ._centring import Centred, feature_mean
from ._engine import single_threaded_blas
from ._loss import SoftmaxLoss, array_bytes, stored_offset
from ._objective import Objective
from ._solvers._base import (
    QN_ESTIMATE_SAFETY,
    Monitor,
    inverse_hessian,
    is_flat,
    max_norm,
    two_loop,
)
from ._solvers._newton import can_confirm, confirm

# learning_rate="adaptive": the step grows by this factor after an epoch that lowered
# the objective, and halves (the epoch undone) after one that did not. Chosen against
# 1.0 and 1.2 on digits and dense_100k_100 (20 epochs), on an earlier version of this
# solver (before the curvature floor); with the secant step, 1.2 left classes_50k_1000
# (scale 0.2, 1,000-row batches) 7.3e-4 above the optimum after 20 epochs against 6.1e-4.
GROW = 1.1
# fit without an L1 term: the curvature pairs (differences of successive anchors and
# their gradients) that shape the steps. On the bench_fit problems at scale 0.2, in an
# earlier version of this solver (before the curvature floor), ten pairs against none
# took the gap after 20 epochs from 6e-2 to 2e-2 on mnist_50k_784 and from 4e-8 to 1e-8
# on dense_100k_100, but from 4e-2 to 1.3e-1 on digits (single runs). The committed
# figures (benchmarks/results/sgd.md) are with ten; with the secant step, five left
# classes_50k_1000 1.1e-3 above the optimum after 20 epochs, ten and twenty 6.1e-4.
MEMORY = 10
# partial_fit: a call's step is eta * (its weight / the weight seen so far) ** SHARE_POWER.
# On bench_stream's stream (20 chunks an epoch) the power 1 (1/t) left a test log-loss of
# 0.985 after 5 epochs and 0.5 (1/sqrt(t)) one of 0.955, the batch optimum's being 0.952.
SHARE_POWER = 0.5
# partial_fit's curvature pairs: the Hessian-vector product on this many minibatches of rows.
PAIR_BATCHES = 4
# partial_fit: the preconditioner is pooled over consecutive calls until it holds this
# many rows of positive weight (_pooled_curvature), and a call of fewer than PAIR_MIN_ROWS
# such rows makes no curvature pair and discards the remembered gradients (there is no
# product to carry them to its anchor; they start again from its own). Test log-loss
# after 3 epochs of calls of 1 / 2 / 5 / 20 rows (probe_stream.py's small calls; batch
# optimum 0.7989): 0.779 / 0.774 / 0.774 / 0.775; each call's own preconditioner and pairs
# from any call: 1-row 0.874, 2-row 0.806; pooled, pairs from 1 row: 1-row 23.6 (diverged:
# one row's Hessian in a pair); pairs from 2: 2-row 0.932; from 256: 20-row 0.793. 0.4.0
# (no pool, pairs from one row, a zero floor for a call's only class): 1-row 23.6.
# SGDClassifier: 9.5 / 10.5 / 8.8 / 8.3.
PRECONDITIONER_ROWS = 256
PAIR_MIN_ROWS = 10
# partial_fit: the weight of earlier calls' gradients in a call's anchor falls by this
# factor per call (_remembered). Test log-loss of dense_100k_100-like streams (C=1) after
# epochs 1 and 5, without the memory / with 0.5: chunks of 2,000 rows 0.9594, 0.9541 /
# 0.9557, 0.9531 (optimum 0.9524); of 500 rows (20,000 in all) 1.3138, 1.0357 / 1.2672,
# 1.0033 (0.9547). With 1.0 (no discount) the linear transport of early, distant calls'
# gradients spoils it: 2 epochs of 4 chunks of 1,000 rows (tests' distribution problem)
# 0.6723 against 0.6531 (fit's 0.6532); 0.75 gives 0.6557, 0.25 0.6529.
MEMORY_DECAY = 0.5
# partial_fit: the memory is discarded when the squared distance between its mean and a
# call's own gradient exceeds this times the smaller one's squared norm (_remembered). That
# ratio on streams of dense_100k_100 (chunks of 500, 2,000 and 10,000 rows), the tests'
# problem (chunks of 50 and 1,000 rows) and digits (100 rows; 200 with elastic net): medians
# 1.5-9.1, 99th percentiles 4.3-35.5, largest 67.0; around a chunk of features times 1e200,
# about 1e400.
OUTLIER = 1e4
# partial_fit: a call of more steps than this takes smaller ones, CALL_STEPS steps' worth of
# movement in all (with curvature pairs, a call moves about a quasi-Newton step). Test
# log-loss of dense_100k_100-like streams (float32, C=1, batch_size="auto") after epochs 1
# and 2, without a limit / with 8 / 12 / 16: chunks of 10,000 rows (20 steps) 0.9499,
# 0.9464 / 0.9460, 0.9446 / 0.9469, 0.9450 / 0.9484, 0.9456; of 50,000 rows (44 steps)
# 0.9615, 0.9593 / 0.9653, 0.9571 / 0.9583, 0.9571 / 0.9581, 0.9573 (optima 0.9439,
# 0.9568); chunks of 2,000 rows (7 steps) are the same under every limit.
CALL_STEPS = 12
# partial_fit: a call steps on at most this many of its minibatches, or on as many as hold
# CALL_ROWS rows if that is more (drawn at random from its rows of positive weight; evenly
# spaced without shuffling), at CALL_STEPS / (their number) of a step each; its anchor still
# reads every row. The noise of a call's move falls with the rows its steps read. Test
# log-loss of dense_100k_100-like float32 streams after epochs 1, 2, 3, all minibatches / 24
# / 12: chunks of 50,000 rows (45 minibatches of 1,118 rows) 0.9805, 0.9789, 0.9788 / 0.9805,
# 0.9790, 0.9788 / 0.9805, 0.9789, 0.9788 (optimum 0.9787); with l1_ratio 0.5, C=0.001
# (196 of 256) 1.1782, 1.0720, 1.0359 / 1.1768, 1.0715, 1.0357 / 1.1743, 1.0708, 1.0353. A
# 50,000-row call 20.6-26.5 ms / 16.1-17.0 / 15.1-17.4 (three rounds, one process). 24
# minibatches alone (a review's find): one call of 10,000 sparse rows in minibatches of 32
# read 768 rows and ended at a log-loss of 1.99-2.16 against 0.63 (the zero model's 1.61).
CALL_BATCHES = 2 * CALL_STEPS
CALL_ROWS = 25_000
# fit: once the suboptimality estimated from its epochs' pairs is at most the target
# (whatever the gradient), a short Newton-CG run (``_newton.confirm``) confirms the stopping
# rule or gets there; a miss waits as many epochs again before the next check. Where the
# estimate was right (bench_fit problems at scale 0.2, dense_100k_100 at 1, mnist_50k_784
# at 0.4) the fit ends with 10-100x smaller gaps at about the same cost: epochs + objective
# passes 21 -> 23 (dense), 36 -> 37 (mnist), 28 -> 22 (sparse), 139 (classes_50k_1000, one
# Newton step); make_classification(2000, 20), C=100, stopped at epoch 6-7 claiming
# convergence 2.2e-3 above the optimum (now 2e-11 to 1.1e-5, seeds 0-7); weak_penalty
# (C=1e6) at epoch 51 0.68 above (now not converged after 100 epochs, and said so).
MAX_EPOCHS = "maximum number of epochs reached"
# The anchor keeps its rows' probabilities (n x k, X's dtype) where they take at most this
# many bytes, or no more than X itself; beyond, each step computes its own rows' at the
# anchor again (``_blocks.weighted_probabilities``: one more product a step) and fit makes
# no Newton-CG check (its products would keep them). At K=100,000, 160,000 float32 rows
# would keep 64 GB; a step's own arrays are its rows x k (1.6 GB at 4,096 rows).
KEEP_BYTES = 2**30
# The message of a fit that early stopping ended (not a failure to converge).
STOPPED_EARLY = "validation score stopped improving"
# fit's secant step along an epoch's displacement is at most this (6 gave the same
# figures on classes_50k_1000).
MAX_STEP = 3.0


class SGDState(NamedTuple):
    """Optimizer state of a stream (all plain values, picklable).

    eta : float
        The step size, in units of the preconditioner (1 is a Newton step on
        a quadratic with that diagonal Hessian).
    n_steps : int
        Minibatch updates taken.
    seen : float
        Total weight ``sum_i s_i`` of the rows seen (each pass counts again).
    rng : dict
        State of the PCG64 generator that shuffles the rows (and draws samples).
    accumulator, last_step, class_counts : ndarray or None
        The sampled softmax's (``_sampled``): AdaGrad's squared-gradient sums
        (n_dof, k), the step each class's column was last brought up to date,
        and the rows seen per class; None for the full softmax.
    curvature : ndarray or None
        ``partial_fit``'s preconditioner (flat), taken when ``seen`` was
        ``curvature_at`` and taken again once ``seen`` has doubled since.
    curvature_at : float
    pairs : tuple
        ``partial_fit``'s curvature pairs ``(s, y, 1 / s.y)``, the last ``MEMORY``.
    anchor_w : ndarray or None
        The coefficients of ``partial_fit``'s last anchor (the start of a pair).
    memory, memory_weight : ndarray or None, float
        ``partial_fit``'s remembered gradients (``_remembered``): the calls'
        data-term gradients times their weights, discounted and carried to the
        last anchor, and their discounted weight.
    curvature_pool : tuple or None
        A preconditioner being pooled over calls (``_pooled_curvature``): the
        sum of the calls' diagonals times their weights, the weight, the rows.
    centred : bool
        Whether ``curvature`` is the diagonal of coordinates centred on ``origin``.
    origin : ndarray or None
        The stream's origin (``_centring``): the rows' mean of the last dense call of at
        least ``PRECONDITIONER_ROWS`` rows of positive weight that took the preconditioner
        again or found no origin.
    sampled_weight : float
        The sampled softmax's weight of the rows in ``class_counts`` (their mean row
        weight scales its minibatches' steps, ``_sampled``); 0 in states of 0.6.1 and
        before.
    """

    eta: float
    n_steps: int
    seen: float
    rng: dict
    accumulator: object = None
    last_step: object = None
    class_counts: object = None
    curvature: object = None
    curvature_at: float = 0.0
    pairs: tuple = ()
    anchor_w: object = None
    memory: object = None
    memory_weight: float = 0.0
    curvature_pool: object = None
    centred: bool = False
    origin: object = None
    sampled_weight: float = 0.0


class Anchor(NamedTuple):
    """A chunk's exact objective, gradient and stopping measure at ``w``."""

    w: np.ndarray
    value: float  # the scaled objective, L1 term included
    gradient: np.ndarray  # of the smooth part (data term + L2)
    subgradient: np.ndarray  # the minimum-norm subgradient (the gradient without L1)
    grad_norm: float  # the max-norm of rule
    curvature: np.ndarray  # the smooth part's Hessian diagonal: the preconditioner
    probabilities: np.ndarray  # the rows' weighted probabilities s_i p_i(w), (n, k)
    rule: np.ndarray = None  # subgradient in the model's coordinates (_centring)


def init(eta0, random_state):
    """A fresh state: no rows seen, step ``eta0``, a generator seeded from ``random_state``."""
    seed = check_random_state(random_state).randint(np.iinfo(np.int32).max)
    return SGDState(
        eta=float(eta0),
        n_steps=0,
        seen=0.0,
        rng=np.random.default_rng(seed).bit_generator.state,
    )


def update(grad, state, w, *, precond, penalty, inverse=None):
    """``(w_new, state_new)``: one preconditioned proximal step along ``grad``.

    ``precond`` is the diagonal ``P``; with ``inverse``, L-BFGS's inverse-Hessian
    estimate from curvature pairs (``inverse_hessian``), the step is along
    ``inverse(grad)`` instead, and with an L1 term it is OWL-QN's (Andrew & Gao
    2007): along ``-inverse(pg)``, ``pg`` the minimum-norm subgradient, without
    the entries whose sign disagrees with ``-pg``, and any entry that leaves the
    orthant of ``w`` (of ``-pg`` where ``w`` is 0) set to 0: exact zeros, as
    the proximal step's.
    """
    step = state.eta / precond
    if inverse is not None and penalty.has_l1:  # OWL-QN: the orthant of w, or of -pg at 0
        pg = penalty.min_norm_subgradient(w, grad)
        d = -inverse(pg)
        d[d * pg >= 0] = 0.0
        orthant = np.where(w != 0, np.sign(w), -np.sign(pg))
        w_new = w + state.eta * d
        w_new[np.sign(w_new) != orthant] = 0.0
        return w_new, state._replace(n_steps=state.n_steps + 1)
    if inverse is not None:
        w_new = w - state.eta * inverse(grad)
    else:
        w_new = w - step * grad
    if penalty.has_l1:
        w_new = penalty.prox(w_new, step)
    return w_new, state._replace(n_steps=state.n_steps + 1)


def keeps(data, k):
    """Whether an anchor on ``data`` (``Rows``) keeps its ``k`` columns of probabilities
    (``KEEP_BYTES``)."""
    X = data.X
    return X.shape[0] * k * X.dtype.itemsize <= max(KEEP_BYTES, array_bytes(X))


def anchor(obj, w, floor, curvature=None, keep=True):
    """The ``Anchor`` of a ``_centring.Centred`` objective at ``w`` (its coordinates); its
    preconditioner is the Hessian diagonal at ``w``, at least ``floor`` (one more pass),
    or ``curvature`` when given; its probabilities None unless ``keep``. ``rule`` is the
    subgradient in the model's coordinates, which the stopping rule reads."""
    if keep:
        f, g, probabilities = obj.fun_grad_probabilities(w)
    else:
        (f, g), probabilities = obj.fun_grad(w), None
    value = f + obj.l1_value(w)
    pg = obj.min_norm_subgradient(w, g)
    rule = obj.model_subgradient(w, g, pg)
    if curvature is None:
        curvature = np.maximum(obj.preconditioner(w), floor)
    return Anchor(w, value, g, pg, max_norm(rule), curvature, probabilities, rule)


def line_step(obj, floor, start, end, state):
    """``(anchor, state)`` after an epoch from ``start`` to ``end`` (``Anchor``s): the
    secant step along ``d = end.w - start.w`` (see the module's docstring).

    ``t``, where the secant through the slopes ``start.gradient @ d`` and
    ``end.gradient @ d`` vanishes, at most ``MAX_STEP``; nothing when ``d`` does
    not descend from ``start`` or the slopes do not increase (then the undo decides).
    """
    d = end.w - start.w
    slope0, slope1 = float(start.gradient @ d), float(end.gradient @ d)
    if not (slope0 < 0 and slope1 > slope0):
        return end, state
    t = min(-slope0 / (slope1 - slope0), MAX_STEP)
    if abs(t - 1) > 0.1:
        trial = anchor(obj, start.w + t * d, floor, start.curvature, end.probabilities is not None)
        if trial.value < end.value:
            end = trial
    if t < 0.5:
        state = state._replace(eta=state.eta / 2)
    return end, state


def curvature_floor(loss, data, layout, batch_size, mean=None):
    """The Hessian diagonal a calibrated model would have on a minibatch: ``f (1 - f)``
    times the features' mean squares, with ``f`` each class's weighted frequency (its
    target mass, for distributions) but within ``[1 / batch_size, 1 - 1 / batch_size]``
    (both 1/2 for batches of one row) (flat); with ``mean``, of the features less
    ``mean`` (``_centring``).

    At a calibrated model the mean probability of class ``c`` is ``f_c``; the
    diagonal at ``w = 0`` (``(K - 1) / K**2`` instead) is smaller by about
    ``K f_c``, so with many classes steps scaled by it alone overshoot on the
    frequent classes by that factor (at K=10,000, 1000x on a class of 10%). A
    class rarer than one row per minibatch still has, in a minibatch holding
    one of its rows, the curvature of frequency ``1 / batch_size``: the bound a
    stochastic step must respect; and a class of every row in the data (one
    class in a call) has that of ``1 - 1 / batch_size`` in a minibatch with
    another's row, not 0.
    """
    K = layout.n_classes
    at_zero = loss.hessian_diagonal(None, mean).reshape(layout.n_dof, layout.k)  # (K-1)/K**2 m_j
    f = data.class_mass(K) / np.sum(data.weights)
    low = min(1.0 / batch_size, 0.5)
    f = np.clip(f[1:] if layout.reference else f, low, 1.0 - low)
    return (at_zero * (K**2 / (K - 1)) * (f * (1 - f))).ravel()


class Rows(NamedTuple):
    """The rows a pass learns from: ``X``, their targets ``y`` (class indices, or
    ``(n, K)`` distributions), weights (any positive scale), and the data term's
    ``offset`` ((n, K) or None) and ``smoothing`` (label smoothing of ``y``)."""

    X: object
    y: np.ndarray
    weights: np.ndarray
    offset: object = None
    smoothing: float = 0.0

    def take(self, rows):
        offset = None if self.offset is None else self.offset[rows]
        return Rows(self.X[rows], self.y[rows], self.weights[rows], offset, self.smoothing)

    def loss(self, layout, n_threads=1):
        """The weighted mean cross-entropy of these rows (``_loss.SoftmaxLoss``)."""
        return SoftmaxLoss(
            self.X, self.y, self.weights, layout, n_threads=n_threads,
            offset=self.offset, label_smoothing=self.smoothing,
        )  # fmt: skip

    def class_mass(self, n_classes):
        """Each class's total weight (of target probability, for distributions)."""
        if self.y.ndim == 2:
            return self.weights @ self.y
        return np.bincount(self.y, weights=self.weights, minlength=n_classes)


def inner_loop(
    data, layout, start, state, *, penalty, batch_size, shuffle, pairs, coords, limit=None
):
    """The SVRG steps of one pass over ``data`` (``Rows``) from ``start`` (an ``Anchor``),
    in the coordinates of ``coords`` (a ``_centring.Centred``), on at most ``limit``
    minibatches of the rows of positive weight (the first of the shuffled order, or
    evenly spaced ones).

    Each minibatch is a block of the data term (its weights normalised to sum 1),
    and its correction ``grad_B(w) - grad_B(v)`` is the block function
    ``_blocks.gradient_difference`` at the model's coefficients, brought to the
    steps' coordinates (``pull``: a product of the coefficients' size, where centring
    the rows would cost one of the minibatch's). Returns ``(w, state)``.
    """
    rng = np.random.default_rng()
    rng.bit_generator.state = state.rng
    n = data.X.shape[0]
    order = rng.permutation(n) if shuffle else np.arange(n)
    if limit is not None and limit * batch_size < n:
        order = order[np.take(data.weights, order) > 0]
        if shuffle:
            order = order[: limit * batch_size]
        elif limit * batch_size < order.size:
            starts = np.linspace(0, order.size - batch_size, limit).astype(np.intp)
            order = order[(starts[:, None] + np.arange(batch_size)).ravel()]
    state = state._replace(rng=rng.bit_generator.state)
    if n <= batch_size:  # one step: not worth threadpoolctl's cost of limiting BLAS
        return _steps(data, layout, start, state, order, penalty, batch_size, pairs, coords)
    with single_threaded_blas():  # many small products: BLAS threads cost more than they give
        return _steps(data, layout, start, state, order, penalty, batch_size, pairs, coords)


def _steps(data, layout, start, state, order, penalty, batch_size, pairs, coords):
    precond = start.curvature
    inverse = inverse_hessian(pairs, precond) if pairs else None
    w, v = start.w, start.w
    X, dtype = data.X, data.X.dtype
    at_v = layout.split(coords.to_model(v), dtype=dtype)  # where the anchor kept nothing
    whole = float(np.sum(data.weights))  # the anchor's probabilities are in weights / whole
    offset = stored_offset(data.offset, layout, dtype)
    # Dense minibatches are gathered into one buffer: a fresh array per step costs
    # more in page faults than the copy itself (17 ms against 4 ms for 50,000 x 100).
    buffer = None if sp.issparse(X) else np.empty((min(batch_size, X.shape[0]), X.shape[1]), dtype)
    for a in range(0, order.size, batch_size):
        rows = np.sort(order[a : a + batch_size])  # sorted: contiguous reads
        s = np.take(data.weights, rows)  # take: fancy indexing is slower by 2-3x
        total = float(np.sum(s))
        if not total > 0:  # rows of zero weight: nothing to learn from
            continue
        g = start.gradient
        if w is not v:  # at w = v the correction is exactly 0
            rows_X = X[rows] if buffer is None else np.take(X, rows, 0, buffer[: rows.size])
            batch = Block(
                rows_X, None, (s / total).astype(dtype), None,
                offset=None if offset is None else offset[rows],
            )  # fmt: skip
            if start.probabilities is None:
                kept_v = weighted_probabilities(batch, *at_v, layout.reference)
            else:
                kept_v = np.take(start.probabilities, rows, 0)
                kept_v *= dtype.type(whole / total)
            (diff,) = gradient_difference(
                batch, *layout.split(coords.to_model(w), dtype=dtype), kept_v, layout.reference
            )
            g = g + coords.pull(diff.ravel())
            g += penalty.smooth_gradient(w - v)
        w, state = update(g, state, w, precond=precond, penalty=penalty, inverse=inverse)
    return w, state


def rows_of(X):
    """X in a form whose rows can be gathered cheaply (CSC becomes CSR)."""
    return X.tocsr() if sp.issparse(X) and X.format != "csr" else X


def one_pass(data, layout, w, state, *, penalty, batch_size, shuffle, n_threads=1):
    """``partial_fit``'s pass over one chunk (``Rows``): count its weight, anchor on it,
    step through it.

    The pass's step is ``eta`` times the square root of the chunk's share of the
    weight seen so far (1 on the first call): each chunk's pass runs towards
    the optimum of its anchor's gradient, and without the decay a stream would
    end near its last chunks' rather than the whole stream's; with it, the
    chunks' pulls average out, as with stochastic approximation's
    ``1 / sqrt(t)`` steps. The anchor's gradient is the chunk's own averaged
    with the remembered gradients of earlier calls (``_remembered``).
    A call of many minibatches spreads ``CALL_STEPS`` steps' worth of movement
    over at most ``CALL_BATCHES`` of them, more where those hold fewer than
    ``CALL_ROWS`` rows (``_call_batches``). Without an L1 term the steps follow
    L-BFGS's estimate from the stream's curvature pairs (``_with_pair``), as
    ``fit``'s do from its anchors'. The preconditioner (a pass of squares,
    about as dear as the anchor) is kept in the state and taken again on a
    call that doubles the weight seen since it was taken: on calls 1, 2, 4,
    8, ... of equal chunks, pooled over calls until it holds
    ``PRECONDITIONER_ROWS`` rows (``_pooled_curvature``). Dense calls take
    their steps in coordinates centred on the stream's ``origin`` (``_centring``),
    the mean of the rows of a call of at least that many rows of positive weight
    (fewer rows' mean is too near each row), taken again with the preconditioner:
    the mean's two passes cost a fifth of a call, paid on calls 1, 2, 4, 8, ...
    only. The state's pairs, memory and anchor are kept in the model's
    coordinates. Returns ``(w, state, value)``, ``value`` the chunk's objective at
    the incoming ``w``: its weighted mean cross-entropy plus the penalty's share
    (``log K`` at 0).
    """
    data = data._replace(X=rows_of(data.X))
    chunk = float(np.sum(data.weights))
    state = state._replace(seen=state.seen + chunk)
    rows = np.count_nonzero(data.weights)
    loss = data.loss(layout, n_threads)
    dense, origin = not sp.issparse(data.X), state.origin
    if dense and rows >= PRECONDITIONER_ROWS and (_fresh(state) or origin is None):
        origin = feature_mean(loss, True)
    mean = origin if dense else None
    obj = Centred(Objective(loss, penalty), layout, mean)
    if state.centred != (mean is not None) or origin is not state.origin:
        state = state._replace(  # the diagonal and its pool are of other coordinates
            curvature=None, curvature_at=0.0, curvature_pool=None, centred=mean is not None
        )
    state = state._replace(origin=origin)
    fresh = _fresh(state)
    with loss.running():
        floor = curvature_floor(loss, data, layout, batch_size, mean) if fresh else None
        curvature = None if fresh else state.curvature
        start = anchor(obj, obj.to_solver(w), floor, curvature, keeps(data, layout.k))
    if fresh:
        state = _pooled_curvature(state, start.curvature, chunk, rows)
        start = start._replace(curvature=state.curvature)
    value = start.value  # before _remembered's gradient changes the anchor
    product, state = _stream_product(data, layout, obj.to_model(start.w), start, state, batch_size)
    start, state = _remembered(start, state, product, obj, penalty, chunk)
    if product is not None and not penalty.has_l1:
        state = _with_pair(state, product, penalty)
    eta, batches = state.eta, _call_batches(rows, batch_size)
    w, state = inner_loop(
        data,
        layout,
        start,
        state._replace(eta=eta * _call_scale(chunk / state.seen, batches)),
        penalty=penalty,
        batch_size=batch_size,
        shuffle=shuffle,
        pairs=() if penalty.has_l1 else tuple(map(obj.solver_pair, state.pairs)),  # L1: diagonal
        coords=obj,
        limit=batches,
    )
    return obj.to_model(w), state._replace(eta=eta), value


def _fresh(state):
    """Whether a ``partial_fit`` call takes the preconditioner (again): none yet, one
    being pooled, or the weight seen doubled since it was taken."""
    return (
        state.curvature is None
        or state.seen >= 2 * state.curvature_at
        or state.curvature_pool is not None
    )


def _pooled_curvature(state, curvature, weight, rows):
    """The state with a call's preconditioner (``curvature``, of ``rows`` rows of positive
    weight, ``weight`` in all) pooled: ``partial_fit``'s preconditioner is the weighted
    mean of the Hessian diagonals of consecutive calls holding at least
    ``PRECONDITIONER_ROWS`` such rows, and until the first such pool is complete
    (``curvature_at`` 0: a stream's start, or after a batch fit), the pool so far.
    One row's diagonal alone (calls of one row) is near 0 for the features that row
    lacks, and steps scaled by it overshoot on the next rows that have them."""
    total, total_weight, total_rows = state.curvature_pool or (0.0, 0.0, 0)
    total = total + weight * curvature
    total_weight, total_rows = total_weight + weight, total_rows + rows
    if total_rows >= PRECONDITIONER_ROWS:
        return state._replace(
            curvature=total / total_weight, curvature_at=state.seen, curvature_pool=None
        )
    state = state._replace(curvature_pool=(total, total_weight, total_rows))
    if state.curvature is None or state.curvature_at == 0.0:  # no complete pool yet
        state = state._replace(curvature=total / total_weight)
    return state


def _call_batches(rows, batch_size):
    """The minibatches a ``partial_fit`` call of ``rows`` rows of positive weight steps
    on: all of them, but at most ``CALL_BATCHES`` or those holding ``CALL_ROWS`` rows."""
    return min(-(-rows // batch_size), max(CALL_BATCHES, -(-CALL_ROWS // batch_size)))


def _call_scale(share, batches):
    """The factor on ``eta`` for a ``partial_fit`` call holding ``share`` of the weight
    seen, in ``batches`` steps: ``share ** SHARE_POWER``, and at most ``CALL_STEPS``
    steps' worth of movement per call."""
    return share**SHARE_POWER * min(1.0, CALL_STEPS / max(batches, 1))


def _stream_product(data, layout, here, start, state, batch_size):
    """``((s, H s), state)``: the move ``s`` from the previous call's anchor to this
    one (``here``, ``start``'s point in the model's coordinates, as the pair), and the
    data term's Hessian at this anchor times ``s``, estimated on
    ``PAIR_BATCHES`` minibatches' worth of this call's rows drawn at random (the
    subsampled products of Byrd, Hansen, Nocedal & Singer 2016): about a tenth of
    a pass over a 50,000-row call. ``(None, state)`` on a stream's first call, on
    a call of fewer than ``PAIR_MIN_ROWS`` rows of positive weight and where the
    product overflows.
    """
    previous, state = state.anchor_w, state._replace(anchor_w=here)
    n, dtype = data.X.shape[0], data.X.dtype
    if previous is None or np.count_nonzero(data.weights) < PAIR_MIN_ROWS:
        return None, state
    rng = np.random.default_rng()
    rng.bit_generator.state = state.rng
    rows = np.arange(n)
    if PAIR_BATCHES * batch_size < n:
        rows = np.sort(rng.choice(n, size=PAIR_BATCHES * batch_size, replace=False))
    state = state._replace(rng=rng.bit_generator.state)
    weights = np.take(data.weights, rows)
    total = float(np.sum(weights))
    if not total > 0:
        return None, state
    s = (weights / total).astype(dtype)
    inverse = np.divide(1, s, out=np.zeros_like(s), where=s > np.finfo(dtype).tiny)  # as cut_blocks
    offset = stored_offset(data.offset, layout, dtype)
    sub = Block(
        data.X[rows] if sp.issparse(data.X) else np.take(data.X, rows, 0), None, s, inverse,
        offset=None if offset is None else offset[rows],
    )  # fmt: skip
    sv = here - previous
    if start.probabilities is None:
        kept = weighted_probabilities(sub, *layout.split(here, dtype=dtype), layout.reference)
    else:
        kept = np.take(start.probabilities, rows, 0) * dtype.type(np.sum(data.weights) / total)
    (hv,) = hessp(sub, kept, *layout.split(sv, dtype=dtype))
    if not np.all(np.isfinite(hv)):
        return None, state
    return (sv, hv.ravel().astype(np.float64)), state


def _remembered(start, state, product, obj, penalty, chunk):
    """``(start, state)`` with the anchor's gradient a running mean of the calls'
    (kept in the model's coordinates; ``obj`` a ``_centring.Centred``).

    The state keeps ``memory``, the sum of the calls' data-term gradients at their
    anchors times their weights (older calls discounted by ``MEMORY_DECAY`` per
    call), carried along the stream's moves: at each anchor the sum gains
    ``H s`` times its weight (``product``), a first-order estimate of how those
    rows' gradient changed. A call's anchor is then the mean of the memory and
    its own exact gradient (the penalty's added exactly), whose variance, that of
    a chunk's rows against the stream's, falls to about a third (weights 1, 1/2,
    1/4, ...). Without a ``product`` (a small call) the memory starts again.

    It starts again too when the memory's mean and the call's own gradient are
    of different scales: their squared distance more than ``OUTLIER`` times the
    smaller one's squared norm. A chunk of another scale (features times 1e200)
    would otherwise steer the anchors for hundreds of calls.
    """
    penalty_gradient = penalty.smooth_gradient(start.w)  # of W alone: the same in u
    own = obj.push(start.gradient - penalty_gradient) * chunk
    fresh = state._replace(memory=own, memory_weight=chunk)
    if product is None or state.memory is None:
        return start, fresh
    weight = MEMORY_DECAY * state.memory_weight
    remembered = MEMORY_DECAY * (state.memory + state.memory_weight * product[1])
    if not np.all(np.isfinite(remembered + own)):
        return start, fresh
    mean, mine = remembered / weight, own / chunk
    top = max(max_norm(mean), max_norm(mine))  # compared at unit scale: no overflow
    mean, mine = (mean / top, mine / top) if top > 0 else (mean, mine)
    if np.sum((mean - mine) ** 2) > OUTLIER * min(mean @ mean, mine @ mine):
        return start, fresh
    memory = remembered + own
    start = start._replace(gradient=obj.pull(memory / (weight + chunk)) + penalty_gradient)
    return start, state._replace(memory=memory, memory_weight=weight + chunk)


def _with_pair(state, product, penalty):
    """The state with the curvature pair ``(s, H s)`` (the penalty's included) added to
    ``partial_fit``'s pairs; successive anchors' gradients are of different rows and
    would not make a pair."""
    sv, hv = product
    yv = hv + penalty.smooth_hessp(sv)
    sy = float(sv @ yv)
    if not sy > 1e-10 * np.linalg.norm(sv) * np.linalg.norm(yv):
        return state
    return state._replace(pairs=(*state.pairs, (sv, yv, 1.0 / sy))[-MEMORY:])


def fit(
    data,
    layout,
    w0,
    state,
    *,
    penalty,
    batch_size,
    shuffle,
    adaptive,
    max_iter,
    tol,
    verbose=0,
    n_threads=1,
    stop_early=None,
    target=None,
):
    """``fit(solver="sgd")``: epochs of proximal SVRG on the whole data until ``tol``.

    Each epoch anchors on all rows, so the anchor's gradient is the batch
    objective's and the stopping rule is the batch solvers' (``_base.Monitor``:
    max-norm of the minimum-norm subgradient at most ``tol`` and, with a
    ``target``, the suboptimality estimated from the quasi-Newton decrement of
    the epochs' curvature pairs at most ``target``), checked at each anchor.
    Where that estimate is at most the target, a short Newton-CG run from the
    anchor (``_newton.confirm``) confirms the rule with its own, tighter estimate,
    gets there, or hands back a lower point for more epochs: the epochs' few
    pairs can miss the flattest directions, and stochastic steps leave the
    gradient above ``tol`` on badly scaled features (``max_iter=0``: no check).
    With ``adaptive``, an epoch ends with the secant step along its displacement
    (``line_step``, no L1 term); one that still ends higher than it started is
    undone and the step halved; after one that lowered it the step grows by
    ``GROW``. ``stop_early(w)`` (optional) is called after each epoch and
    returns True to stop (validation-based early stopping).

    Returns ``(SolverResult, state)``; ``n_iter`` counts epochs.
    """
    data = data._replace(X=rows_of(data.X))
    state = state._replace(seen=float(np.sum(data.weights)))
    loss = data.loss(layout, n_threads)
    mean = feature_mean(loss, not sp.issparse(data.X))
    obj = Centred(Objective(loss, penalty), layout, mean)  # the steps' coordinates
    monitor = Monitor("sgd", tol, 0, target)
    monitor.message = MAX_EPOCHS
    eps = float(np.finfo(data.X.dtype).eps)  # the objective's precision: no undo for rounding
    pairs = deque(maxlen=MEMORY)
    confirmed = None  # Newton-CG's result where it had the last word
    keep = keeps(data, layout.k)
    # needs_estimate too; not without kept probabilities: Newton's products would keep them
    checks = keep and max_iter > 0 and can_confirm(obj, target)
    next_check = 0
    with loss.running():
        floor = curvature_floor(loss, data, layout, batch_size, mean)
        best = anchor(obj, obj.to_solver(w0), floor, None, keep)
        epoch = 0
        while True:
            decrement = _decrement(best, pairs) if monitor.needs_estimate else None
            holds = monitor.converged(best.rule, best.value, decrement)
            if holds and not checks:  # the estimate alone (or the gradient alone) decides
                break
            # The pairs' estimate met is enough to check: Newton settles the gradient too.
            near = holds or (
                monitor.needs_estimate and monitor.estimate(best.value, decrement) <= monitor.target
            )
            if near and checks and (epoch >= next_check or epoch >= max_iter):
                check = confirm(  # in the model's coordinates; printed from verbose=2
                    obj.obj,
                    obj.to_model(best.w),
                    (),
                    obj.model_diagonal(best.curvature),
                    precondition=obj.model_inverse(_inverse(best, pairs)),
                    tol=tol,
                    target=target,
                    estimate=monitor.suboptimality,
                    verbose=verbose - 1,
                )
                if verbose > 0:
                    print(
                        f"[sgd] Newton-CG check after epoch {epoch}: {check.n_iter} "
                        f"iterations, |grad|_max {check.grad_norm:.3e}, estimated "
                        f"suboptimality {check.suboptimality:.3e}",
                        flush=True,
                    )
                if check.converged or epoch >= max_iter:
                    confirmed = check
                    break
                next_check = 2 * epoch + 1  # a miss waits as many epochs again, and one
                if check.n_iter:  # not there yet, but lower: the epochs go on from there
                    moved = anchor(obj, obj.to_solver(check.x), floor, best.curvature, keep)
                    best = _add_pair(pairs, best, moved)
            monitor.message = MAX_EPOCHS
            if epoch >= max_iter:
                break
            if keep and best.probabilities is None:  # an undone epoch: its start's let go
                best = anchor(obj, best.w, floor, best.curvature, keep)
            w, state = inner_loop(
                data,
                layout,
                best,
                state,
                penalty=penalty,
                batch_size=batch_size,
                shuffle=shuffle,
                pairs=tuple(pairs),
                coords=obj,
            )
            best = best._replace(probabilities=None)  # n x k: let go before the next anchor
            epoch += 1
            end = anchor(obj, w, floor, best.curvature, keep)
            if adaptive and not penalty.has_l1:
                end, state = line_step(obj, floor, best, end, state)
            if verbose > 0:
                print(
                    f"[sgd] epoch {epoch:4d}  objective {end.value:.10e}  "
                    f"|grad|_max {end.grad_norm:.3e}  eta {state.eta:.3e}",
                    flush=True,
                )
            if adaptive and not (end.value <= best.value or is_flat(end.value, best.value, eps)):
                state = state._replace(eta=state.eta / 2)  # undo the epoch, halve the step
                pairs.clear()  # and drop the curvature that led there
                continue
            best = _add_pair(pairs, best, end)
            if adaptive:
                state = state._replace(eta=state.eta * GROW)
            if stop_early is not None and stop_early(obj.to_model(best.w)):
                monitor.message = STOPPED_EARLY
                break
    if confirmed is not None:  # (in the model's coordinates)
        message = confirmed.message if confirmed.converged else MAX_EPOCHS
        return dataclasses.replace(confirmed, n_iter=epoch, message=message), state
    decrement = _decrement(best, pairs)
    result = monitor.result(obj.to_model(best.w), epoch, best.rule, best.value, decrement)
    return result, state


def _add_pair(pairs, start, end):
    """Append the curvature pair from anchor ``start`` to ``end`` (of the smooth part)
    where it has positive curvature; returns ``end``."""
    sv, yv = end.w - start.w, end.gradient - start.gradient
    sy = float(sv @ yv)
    if sy > 1e-10 * np.linalg.norm(sv) * np.linalg.norm(yv):
        pairs.append((sv, yv, 1.0 / sy))
    return end


def _inverse(anchor, pairs):
    """``v -> H v``, ``H`` the inverse Hessian estimate of the epochs' pairs over the
    anchor's preconditioner (its diagonal alone without pairs)."""
    if pairs:
        return lambda v: two_loop(v, pairs, anchor.curvature)
    return lambda v: v / anchor.curvature


def _decrement(anchor, pairs):
    """The quasi-Newton decrement ``pg.H pg / 2`` at an anchor (``_inverse``), times
    ``QN_ESTIMATE_SAFETY`` as the batch solvers take it."""
    pg = anchor.subgradient
    return QN_ESTIMATE_SAFETY * 0.5 * float(pg @ _inverse(anchor, pairs)(pg))
