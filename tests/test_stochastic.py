"""solver="sgd" and partial_fit: the batch objective's optimum, streams, state, errors."""

import pickle
import types
import warnings

import numpy as np
import pytest
from conftest import make_problem
from scipy.special import logsumexp
from sklearn.datasets import load_digits, make_classification
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import log_loss

from softmax_sk import SoftmaxRegressionClassifier
from softmax_sk._stochastic import SGDState


def objective(model, X, y, C, l1_ratio=0.0, sample_weight=None):
    """scikit-learn's objective of a fitted model, computed here from coef_ alone."""
    z = X @ model.coef_.T.astype(np.float64) + model.intercept_
    if z.shape[1] == 1:
        z = np.column_stack([np.zeros(len(y)), z])
    ce = logsumexp(z, axis=1) - z[np.arange(len(y)), np.searchsorted(model.classes_, y)]
    s = np.ones(len(y)) if sample_weight is None else sample_weight
    W = np.asarray(model.coef_, dtype=np.float64)
    return C * s @ ce + (1 - l1_ratio) / 2 * np.sum(W**2) + l1_ratio * np.abs(W).sum()


@pytest.mark.parametrize("n_classes", [2, 4])
def test_sgd_reaches_scikit_learns_optimum_in_20_epochs(n_classes, rng):
    X, y = make_problem(n_classes, n_samples=3000, n_features=10)
    sw = rng.uniform(0.5, 2.0, size=len(y))
    ref = LogisticRegression(C=0.5, tol=1e-10, max_iter=10_000).fit(X, y, sample_weight=sw)
    sgd = SoftmaxRegressionClassifier(C=0.5, solver="sgd", max_iter=20, tol=0, random_state=0)
    sgd.fit(X, y, sample_weight=sw)
    f_ref, f = objective(ref, X, y, 0.5, sample_weight=sw), objective(sgd, X, y, 0.5, 0, sw)
    assert sgd.n_iter_[0] <= 20
    assert (f - f_ref) / f_ref < 1e-3
    assert abs(sgd.score(X, y) - ref.score(X, y)) <= 0.005


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("seed", [0, 1])
def test_sgd_default_is_within_1e_3_of_the_optimum_on_digits_in_20_epochs(seed):
    """Issue #13's target on the digits (bench_sgd's problem, all 1797 rows), where 20
    epochs used to leave the objective 3e-2 (seed 0) and 7e-2 (seed 1) above the optimum
    (before the secant step that ends each epoch and fit's own auto batch size)."""
    X, y = load_digits(return_X_y=True)
    X = (X - X.mean(0)) / np.maximum(X.std(0), 1e-12)
    ref = LogisticRegression(solver="newton-cg", tol=1e-10, max_iter=1000).fit(X, y)
    sgd = SoftmaxRegressionClassifier(solver="sgd", max_iter=20, tol=0, random_state=seed)
    sgd.fit(X, y)
    f_ref, f = objective(ref, X, y, 1.0), objective(sgd, X, y, 1.0)
    assert sgd.n_iter_[0] == 20
    assert 0 <= (f - f_ref) / f_ref <= 1e-3
    assert abs(sgd.score(X, y) - ref.score(X, y)) <= 0.005


def test_sgd_l1_has_exact_zeros_and_the_optimum(rng):
    X, y = make_problem(3, n_samples=1500, n_features=10)
    C, r = 0.05, 1.0
    ref = LogisticRegression(C=C, l1_ratio=r, solver="saga", tol=1e-10, max_iter=100_000)
    ref.fit(X, y)
    sgd = SoftmaxRegressionClassifier(C=C, l1_ratio=r, solver="sgd", max_iter=60, tol=1e-6)
    sgd.fit(X, y)
    f_ref, f = objective(ref, X, y, C, r), objective(sgd, X, y, C, r)
    assert (f - f_ref) / f_ref < 1e-4
    assert np.sum(sgd.coef_ == 0) > 0
    np.testing.assert_array_equal(sgd.coef_ == 0, np.abs(ref.coef_) < 1e-8)


@pytest.mark.parametrize("l1_ratio, bound", [(0.5, 5e-3), (1.0, 2e-2)])
def test_sgd_with_l1_nears_the_optimum_on_digits_in_20_epochs(l1_ratio, bound):
    """OWL-QN steps along the epochs' curvature pairs: relative gap to the batch optimum
    after 20 epochs on standardised digits (bench_sgd's), C=1: 1.2e-3 (elastic net) and
    1.1e-2 (lasso), against 7.1e-2 and 9.6e-2 with diagonal proximal steps only."""
    X, y = load_digits(return_X_y=True)
    X = (X - X.mean(0)) / np.maximum(X.std(0), 1e-12)
    kw = {"C": 1.0, "l1_ratio": l1_ratio}
    ref = SoftmaxRegressionClassifier(tol=1e-8, max_iter=5000, **kw).fit(X, y)
    sgd = SoftmaxRegressionClassifier(solver="sgd", max_iter=20, tol=0, random_state=0, **kw)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # tol=0: all 20 epochs
        sgd.fit(X, y)
    f_ref, f = objective(ref, X, y, 1.0, l1_ratio), objective(sgd, X, y, 1.0, l1_ratio)
    assert 0 <= (f - f_ref) / f_ref < bound
    assert np.sum(sgd.coef_ == 0) > 0.7 * np.sum(ref.coef_ == 0)


def test_sgd_stops_at_the_batch_tol_and_class_weights_count(rng):
    X, y = make_problem(3, n_samples=1000)
    cw = {0: 3.0, 1: 1.0, 2: 0.5}
    ref = LogisticRegression(class_weight=cw, tol=1e-10, max_iter=10_000).fit(X, y)
    sgd = SoftmaxRegressionClassifier(solver="sgd", class_weight=cw, tol=1e-4, max_iter=500)
    sgd.fit(X, y)
    assert sgd.n_iter_[0] < 100  # stopped by tol, not by max_iter
    s = np.vectorize(cw.get)(y)
    f_ref, f = objective(ref, X, y, 1.0, sample_weight=s), objective(sgd, X, y, 1.0, 0, s)
    assert 0 <= (f - f_ref) / f_ref < 1e-4
    unweighted = SoftmaxRegressionClassifier(solver="sgd", tol=1e-4).fit(X, y)
    assert (objective(unweighted, X, y, 1.0, 0, s) - f_ref) / f_ref > 1e-3


def test_partial_fit_on_all_rows_is_one_epoch_of_fit():
    X, y = make_problem(3, n_samples=600)
    kw = {"solver": "sgd", "random_state": 3, "batch_size": 50, "learning_rate": "constant"}
    fit = SoftmaxRegressionClassifier(max_iter=1, tol=0, **kw).fit(X, y)
    stream = SoftmaxRegressionClassifier(**kw).partial_fit(X, y, classes=[0, 1, 2])
    np.testing.assert_allclose(stream.coef_, fit.coef_, rtol=1e-10, atol=1e-12)
    assert stream.optimizer_state_.n_steps == fit.optimizer_state_.n_steps == 12


def test_a_call_of_many_minibatches_takes_12_steps_worth():
    """20 minibatches in one call: the epoch of fit whose step is 12/20 of eta0."""
    X, y = make_problem(3, n_samples=1000)
    kw = {"solver": "sgd", "random_state": 3, "batch_size": 50, "learning_rate": "constant"}
    fit = SoftmaxRegressionClassifier(max_iter=1, tol=0, eta0=0.1 * 12 / 20, **kw).fit(X, y)
    stream = SoftmaxRegressionClassifier(eta0=0.1, **kw).partial_fit(X, y, classes=[0, 1, 2])
    np.testing.assert_allclose(stream.coef_, fit.coef_, rtol=1e-10, atol=1e-12)
    assert stream.optimizer_state_.eta == 0.1  # the call's scale is not kept


def _stream(model, X, y, epochs, n_chunks, seed, stop=None):
    rng = np.random.default_rng(seed)
    calls = 0
    for _ in range(epochs):
        for chunk in np.array_split(rng.permutation(len(y)), n_chunks):
            if calls == stop:
                return model
            model.partial_fit(X[chunk], y[chunk], classes=np.unique(y))
            calls += 1
    return model


def test_partial_fit_over_shuffled_chunks_matches_fit_on_average():
    """Test log-loss over 16 seeds, 2 epochs, 4 shuffled chunks: Welch's t-test does not
    tell the stream's mean from fit's (p = 0.073, 0.52 before the steps were centred;
    before the stream's curvature pairs its mean was 0.4% higher, p = 1e-14). Their
    distributions differ: the stream's spread is about 2.5x fit's here, and at 1 or 3
    epochs, or 8 chunks an epoch, the means differ too (benchmarks/results/notes.md, "not
    equal in distribution"), so only this setting's means are compared."""
    from scipy import stats

    X, y = make_problem(3, n_samples=6000, n_features=10, seed=1)
    X_test, y_test = X[4000:], y[4000:]
    X, y = X[:4000], y[:4000]

    def log_loss(m):
        p = m.predict_proba(X_test)
        return -np.mean(np.log(p[np.arange(len(y_test)), y_test]))

    kw = {"C": 10.0, "solver": "sgd", "batch_size": 100, "learning_rate": "constant"}
    fits = [
        log_loss(SoftmaxRegressionClassifier(max_iter=2, tol=0, random_state=s, **kw).fit(X, y))
        for s in range(16)
    ]
    streams = [
        log_loss(_stream(SoftmaxRegressionClassifier(random_state=s, **kw), X, y, 2, 4, s))
        for s in range(16)
    ]
    assert stats.ttest_ind(streams, fits, equal_var=False).pvalue > 0.05
    best = log_loss(SoftmaxRegressionClassifier(C=10.0, tol=1e-8).fit(X, y))
    assert abs(np.mean(fits) - best) < 0.002 and abs(np.mean(streams) - best) < 0.002


def test_a_pickled_stream_resumes_bitwise():
    X, y = make_problem(4, n_samples=1200)
    kw = {"solver": "sgd", "random_state": 7, "batch_size": 64, "l1_ratio": 0.3}
    whole = _stream(SoftmaxRegressionClassifier(**kw), X, y, 3, 5, seed=0)
    first = _stream(SoftmaxRegressionClassifier(**kw), X, y, 3, 5, seed=0, stop=7)
    resumed = pickle.loads(pickle.dumps(first))
    assert isinstance(resumed.optimizer_state_, SGDState)
    rng = np.random.default_rng(0)  # the same chunk order as _stream, from call 7 on
    chunks = [c for _ in range(3) for c in np.array_split(rng.permutation(len(y)), 5)]
    for chunk in chunks[7:]:
        resumed.partial_fit(X[chunk], y[chunk])
    np.testing.assert_array_equal(resumed.coef_, whole.coef_)
    np.testing.assert_array_equal(resumed.intercept_, whole.intercept_)
    assert resumed.optimizer_state_.n_steps == whole.optimizer_state_.n_steps


def test_partial_fit_errors_leave_the_model_as_it_was():
    X, y = make_problem(3, n_samples=300)
    clf = SoftmaxRegressionClassifier(random_state=0)
    with pytest.raises(ValueError, match="classes must be passed on the first call"):
        clf.partial_fit(X, y)
    assert not hasattr(clf, "coef_")
    clf.partial_fit(X[:100], y[:100], classes=[0, 1, 2])
    before = pickle.dumps(clf)
    with pytest.raises(ValueError, match="the label 7, which is not among the classes"):
        clf.partial_fit(X[100:200], np.where(y[100:200] == 2, 7, y[100:200]))
    with pytest.raises(ValueError, match="is not the same as the classes_"):
        clf.partial_fit(X[100:200], y[100:200], classes=[0, 1, 2, 3])
    with pytest.raises(ValueError, match="features"):
        clf.partial_fit(X[100:200, :-1], y[100:200])
    with pytest.raises(ValueError, match="sum to"):
        clf.partial_fit(X[100:200], y[100:200], sample_weight=np.zeros(100))
    assert pickle.dumps(clf) == before


def test_partial_fit_continues_a_batch_fit_whatever_the_solver():
    X, y = make_problem(3, n_samples=900)
    clf = SoftmaxRegressionClassifier(solver="lbfgs", C=100.0).fit(X[:600], y[:600])
    f_before = objective(clf, X, y, 100.0)
    for _ in range(10):
        clf.partial_fit(X, y)
    assert clf.solver_ == "sgd"
    assert objective(clf, X, y, 100.0) < f_before


@pytest.mark.parametrize(
    "params",
    [
        {"coef_bounds": (0, np.inf)},
        {"intercept_bounds": (-1, 1)},
        {"l1_type": "grouped", "l1_ratio": 0.5},
    ],
)
def test_partial_fit_refuses_bounds_and_the_grouped_lasso(params):
    """Stochastic steps keep neither a box nor the grouped lasso: with them the estimator
    has no partial_fit (as SGDClassifier's predict_proba exists only for some losses), and
    calling it says why, before the first call and on a model a batch solver fitted."""
    X, y = make_problem(3, n_samples=300)
    model = SoftmaxRegressionClassifier(**params)
    assert not hasattr(model, "partial_fit")
    with pytest.raises(AttributeError, match="has no attribute 'partial_fit'") as error:
        model.partial_fit(X, y, classes=[0, 1, 2])
    assert "partial_fit takes stochastic steps" in str(error.value.__cause__)  # the traceback's
    fitted = SoftmaxRegressionClassifier(**params).fit(X, y)
    with pytest.raises(AttributeError) as error:
        fitted.partial_fit(X, y)
    assert "handle neither coef_bounds" in str(error.value.__cause__)
    assert hasattr(
        fitted.set_params(coef_bounds=None, intercept_bounds=None, l1_type="elementwise"),
        "partial_fit",
    )


def test_a_stream_goes_on_when_fit_intercept_changes():
    X, y = make_problem(3, n_samples=900)
    clf = SoftmaxRegressionClassifier(random_state=0)
    for chunk in np.array_split(np.arange(900), 3):
        clf.partial_fit(X[chunk], y[chunk], classes=[0, 1, 2])
    clf.set_params(fit_intercept=False).partial_fit(X, y)
    np.testing.assert_array_equal(clf.intercept_, 0.0)
    assert np.all(np.isfinite(clf.coef_)) and clf.score(X, y) > 0.5
    clf.set_params(fit_intercept=True).partial_fit(X, y)
    assert np.all(np.isfinite(clf.intercept_)) and clf.score(X, y) > 0.5


def test_partial_fit_with_many_classes_does_not_warn_about_their_number():
    """classes (unique by definition) once made check_classification_targets warn that
    more than half the labels are unique."""
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(60, 4)), np.arange(60) % 25
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        SoftmaxRegressionClassifier(random_state=0).partial_fit(X, y, classes=np.arange(25))


def test_partial_fit_after_a_batch_fit_reads_C_per_the_fitted_weight():
    """A small batch after a batch fit on 1,500 rows (or fit(solver="sgd") with sample
    weights) is a small part of what the model has seen: one 20-row chunk of one class
    moves the test log-loss by less than 0.02 (0.005 after lbfgs, 0.013 after sgd, whose
    step grew during its fit; 0.08 when the stream started afresh after lbfgs, 0.027 when
    fit(solver="sgd") counted the weights divided by their largest)."""
    X, y = make_classification(
        2000, 10, n_informative=6, n_redundant=0, n_classes=3, random_state=0
    )
    X_test, y_test = X[1500:], y[1500:]
    one_class = np.flatnonzero(y[:1500] == 0)[:20]
    for kw in [{}, {"solver": "sgd", "random_state": 0}]:
        clf = SoftmaxRegressionClassifier(**kw).fit(
            X[:1500], y[:1500], sample_weight=np.full(1500, 3.0)
        )
        before = log_loss(y_test, clf.predict_proba(X_test))
        clf.partial_fit(X[one_class], y[one_class], sample_weight=np.full(20, 3.0))
        assert clf.optimizer_state_.seen == pytest.approx(3.0 * 1520)
        assert abs(log_loss(y_test, clf.predict_proba(X_test)) - before) < 0.02
        assert (
            clf.convergence_["message"].startswith("partial_fit")
            and not clf.convergence_["converged"]
        )


def test_sgd_stops_on_the_batch_solvers_suboptimality_estimate():
    """fit(solver="sgd") checks the batch solvers' two-part rule at each anchor: the
    estimate (the epochs' quasi-Newton decrement) is reported, at most tol when it
    stopped, and on a well-conditioned problem not below the true relative gap to the
    L-BFGS optimum (2.1e-6 against an estimate of 2.4e-5)."""
    X, y = make_classification(2000, 20, random_state=0)
    best = SoftmaxRegressionClassifier(tol=1e-10).fit(X, y)
    clf = SoftmaxRegressionClassifier(solver="sgd", random_state=0, max_iter=200).fit(X, y)
    estimate = clf.convergence_["suboptimality_estimate"]
    assert clf.convergence_["converged"] and estimate <= clf.tol
    f, f_best = objective(clf, X, y, 1.0), objective(best, X, y, 1.0)
    assert 0 <= (f - f_best) / f_best <= estimate


def test_early_stopping_holds_out_rows_and_stops():
    X, y = make_problem(3, n_samples=2000)
    kw = {"solver": "sgd", "tol": 0, "random_state": 0}
    clf = SoftmaxRegressionClassifier(early_stopping=True, n_iter_no_change=3, max_iter=200, **kw)
    with warnings.catch_warnings():  # stopping on the held-out score is not a failure
        warnings.simplefilter("error", ConvergenceWarning)
        clf.fit(X, y)
    assert clf.n_iter_[0] < 200
    assert clf.convergence_["message"] == "validation score stopped improving"
    full = SoftmaxRegressionClassifier(max_iter=clf.n_iter_[0], **kw).fit(X, y)
    assert not np.allclose(clf.coef_, full.coef_)  # trained on fewer rows


def test_early_stopping_scores_held_out_rows_by_weight_in_blocks(monkeypatch):
    """The held-out score is scikit-learn's accuracy with the rows' weights (plain where
    they weigh nothing), the same in blocks of 7 rows, which hold no rows x classes array."""
    import tracemalloc

    from sklearn.metrics import accuracy_score

    from softmax_sk import _stream
    from softmax_sk._layout import Layout
    from softmax_sk._stochastic import Rows

    rng = np.random.default_rng(0)
    n, d, K = 3000, 5, 400
    layout = Layout(d, K, True)
    w = rng.normal(size=layout.size)
    coef, intercept = layout.unpack(w, np.float64)
    X = rng.normal(size=(n, d))
    predicted = np.argmax(X @ coef.T + intercept, axis=1)
    y = np.where(rng.random(n) < 0.6, predicted, rng.integers(K, size=n))
    weights = rng.uniform(0, 2, size=n) * (np.arange(n) >= 500)
    for held_out_weights, expected in [
        (weights, accuracy_score(y, predicted, sample_weight=weights)),
        (np.zeros(n), accuracy_score(y, predicted)),
    ]:
        for cap in [_stream._AUTO_BATCH_BYTES, 7 * 8 * K]:
            monkeypatch.setattr(_stream, "_AUTO_BATCH_BYTES", cap)
            stop = _stream._NoImprovement(layout, Rows(X, y, held_out_weights), y, 0.0, 1)
            tracemalloc.start()
            assert not stop(w)
            peak = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()
            assert stop.best == pytest.approx(expected, abs=1e-12)
        assert peak < n * K * 8 / 10
    assert accuracy_score(y, predicted, sample_weight=weights) != accuracy_score(y, predicted)


@pytest.mark.parametrize("target", ["label_smoothing", "y_proba"])
def test_early_stopping_splits_and_scores_on_the_rows_classes(monkeypatch, target):
    """With class weights the fitted targets are reweighted distributions whose most
    probable class can be another (here class 1 of weight 100 for every smoothed row):
    the held-out split and score use each row's own class (its most probable one in
    y_proba), before smoothing and class weights."""
    from softmax_sk import _stream

    X, y = make_problem(3, n_samples=600)
    seen = []
    split = _stream._split
    monkeypatch.setattr(
        _stream, "_split", lambda est, labels: seen.append(labels) or split(est, labels)
    )
    clf = SoftmaxRegressionClassifier(
        solver="sgd", early_stopping=True, max_iter=3, class_weight={0: 1, 1: 100, 2: 1}
    )
    if target == "label_smoothing":
        clf.set_params(label_smoothing=0.1).fit(X, y)
    else:
        P = np.full((len(y), 3), 0.2)
        P[np.arange(len(y)), y] = 0.6
        clf.fit(X, y_proba=P)
    np.testing.assert_array_equal(seen[0], y)


def test_early_stopping_adds_offsets_to_overflowing_logits_at_their_scale():
    """A held-out row whose logits overflow (1e310 and up) is scored on its true logits
    plus offset: an offset of -1e300 does not change which class is largest."""
    from softmax_sk import _stream
    from softmax_sk._layout import Layout
    from softmax_sk._stochastic import Rows

    layout = Layout(1, 3, True)
    w = layout.pack(np.array([[1e300], [2e300], [3e300]]), np.zeros(3))
    X = np.array([[1e10]])
    offset = np.array([[0.0, 0.0, -1e300]])
    stop = _stream._NoImprovement(
        layout, Rows(X, np.array([2]), np.ones(1), offset), np.array([2]), 0.0, 1
    )
    stop(w)
    assert stop.best == 1.0


@pytest.mark.parametrize("n_sampled", [None, 3])
def test_early_stopping_refuses_to_hold_out_every_row_of_positive_weight(n_sampled):
    """The weight of all rows is positive, of the training rows zero: the fit used to run
    on nothing (NaN gradients, a zero model; the sampled softmax called it converged)."""
    from sklearn.model_selection import ShuffleSplit

    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(10, 2)), np.arange(10) % (2 if n_sampled is None else 5)
    # the plain split _stream._split takes where a class is too small to stratify
    _, val = next(ShuffleSplit(test_size=0.1, random_state=0).split(X))
    weights = np.zeros(10)
    weights[val] = 1.0
    clf = SoftmaxRegressionClassifier(
        solver="sgd", early_stopping=True, random_state=0, n_sampled_classes=n_sampled
    ).fit(X, y)
    before = clf.coef_.copy()
    with pytest.raises(ValueError, match="held out every row of positive weight"):
        clf.fit(X, y, sample_weight=weights)
    np.testing.assert_array_equal(clf.coef_, before)


def test_diverging_steps_raise_and_leave_the_model():
    """Steps of eta0=1e50 (1e300 in fit) overflow: the call raises instead of storing NaN
    coefficients (whose probabilities were a uniform 1/K, hiding it), and the model and
    its optimizer state stay as they were. (The sampled softmax's AdaGrad steps and
    proximal penalty keep such steps finite.)"""
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(300, 4)), rng.integers(0, 3, 300)
    stream = SoftmaxRegressionClassifier(solver="sgd", random_state=0, eta0=1e50)
    calls = 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # numpy's overflow and the divergence warning
        with pytest.raises(ValueError, match="diverged"):
            for rows in np.array_split(np.arange(300), 5):
                stream.partial_fit(X[rows], y[rows], classes=[0, 1, 2])
                coef, intercept = stream.coef_.copy(), stream.intercept_.copy()
                state, calls = stream.optimizer_state_, calls + 1
        assert calls >= 1  # else the model below is the unfitted one
        np.testing.assert_array_equal(stream.coef_, coef)
        np.testing.assert_array_equal(stream.intercept_, intercept)
        assert stream.optimizer_state_ is state
        fitted = SoftmaxRegressionClassifier(solver="sgd", random_state=0).fit(X, y)
        before = fitted.coef_.copy()
        fitted.set_params(learning_rate="constant", eta0=1e300, max_iter=5)
        with pytest.raises(ValueError, match="diverged"):
            fitted.fit(X, y)
    np.testing.assert_array_equal(fitted.coef_, before)


def test_a_sampled_fit_says_it_checked_no_stopping_rule():
    """The sampled softmax runs max_iter epochs without a stopping rule: not "converged",
    and no ConvergenceWarning (there is no rule to miss)."""
    X, y = make_problem(5, n_samples=300)
    clf = SoftmaxRegressionClassifier(solver="sgd", n_sampled_classes=1, max_iter=1)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        clf.fit(X, y)
    assert clf.convergence_["converged"] is False
    assert "no stopping rule" in clf.convergence_["message"]


@pytest.mark.parametrize("kind", ["label_smoothing", "y_proba", "offset"])
def test_sgd_fits_the_batch_optimum_of_every_target(kind, rng):
    """The stochastic steps use the data term's rows: smoothing, distributions, offsets."""
    X, y = make_problem(3, n_samples=1500)
    params, fit_kw = {}, {"y": y}
    if kind == "label_smoothing":
        params["label_smoothing"] = 0.2
    elif kind == "y_proba":
        P = rng.dirichlet(np.ones(3), size=len(y)) * 0.5 + 0.5 * np.eye(3)[y]
        fit_kw = {"y_proba": P}
    else:
        fit_kw["offset"] = rng.normal(size=(len(y), 3))
    ref = SoftmaxRegressionClassifier(solver="lbfgs", tol=1e-10, max_iter=1000, **params)
    ref.fit(X, **fit_kw)
    sgd = SoftmaxRegressionClassifier(solver="sgd", tol=1e-5, max_iter=300, **params)
    sgd.fit(X, **fit_kw)
    assert sgd.n_iter_[0] < 300
    # the probabilities (coefficients along the redundant feature are ill-determined)
    offset = fit_kw.get("offset")
    np.testing.assert_allclose(
        sgd.predict_proba(X, offset=offset), ref.predict_proba(X, offset=offset), atol=1e-3
    )
    plain = SoftmaxRegressionClassifier(solver="lbfgs").fit(X, y)  # without the variant
    assert np.abs(plain.predict_proba(X) - ref.predict_proba(X, offset=offset)).max() > 1e-2


def test_the_sampled_softmax_refuses_what_it_does_not_fit():
    X, y = make_problem(4, n_samples=200)
    clf = SoftmaxRegressionClassifier(solver="sgd", n_sampled_classes=1, label_smoothing=0.1)
    with pytest.raises(ValueError, match="n_sampled_classes trains on labels only"):
        clf.fit(X, y)
    with pytest.raises(ValueError, match="n_sampled_classes trains on labels only"):
        clf.partial_fit(X, y, classes=np.arange(4))
    assert not hasattr(clf, "coef_")


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize(
    "n_samples, n_classes",
    [(8000, 3000), (40000, 10), (1437, 10), (300, 3), (10**6, 10), (10**6, 10**5), (10**5, 10**6)],
)
def test_auto_batch_size_is_within_its_bounds_in_equal_batches(n_samples, n_classes, stream):
    """Within [256, 4096] rows, and at very many classes few enough rows that a batch's
    rows x classes float64 array takes at most 256 MiB (335 rows at K=100,000; 256, the
    floor, at a million)."""
    from softmax_sk._layout import Layout
    from softmax_sk._stream import options

    est = SoftmaxRegressionClassifier(solver="sgd")
    batch, _ = options(est, n_samples, Layout(5, n_classes, True), stream=stream)
    assert batch <= 4096 and batch <= n_samples
    assert batch * n_classes * 8 <= 2**28 or batch <= 256
    assert batch >= min(256, n_samples) or batch == n_samples
    n_batches = -(-n_samples // batch)
    assert n_samples - (n_batches - 1) * batch >= batch - n_batches  # no small last batch


def test_a_stream_pair_is_the_hessian_along_the_move(rng):
    """partial_fit's curvature pair ``(s, y)``, its rows all drawn: ``y`` is the penalised
    objective's Hessian at the anchor times ``s`` (central differences of the gradient)."""
    from softmax_sk import _stochastic
    from softmax_sk._centring import Centred
    from softmax_sk._layout import Layout
    from softmax_sk._objective import Objective
    from softmax_sk._penalty import ElasticNet

    X, y = make_problem(4, n_samples=500, n_features=10)
    sw = rng.uniform(0.5, 2.0, size=len(y))
    layout = Layout(X.shape[1], 4, True)
    penalty = ElasticNet.from_C(0.5, 0.0, sw, layout.penalized())
    data = _stochastic.Rows(X, y, sw)
    obj = Centred(Objective(data.loss(layout), penalty), layout, None)  # the model's coordinates
    w = rng.normal(scale=0.5, size=layout.size)
    previous = w + rng.normal(scale=0.1, size=layout.size)
    start = _stochastic.anchor(obj, w, 0.0)
    state = _stochastic.init(0.1, 0)._replace(anchor_w=previous)
    product, state = _stochastic._stream_product(data, layout, w, start, state, len(y))
    state = _stochastic._with_pair(state, product, penalty)
    sv, yv, rho = state.pairs[-1]
    eps = 1e-5
    expected = (obj.fun_grad(w + eps * sv)[1] - obj.fun_grad(w - eps * sv)[1]) / (2 * eps)
    np.testing.assert_allclose(sv, w - previous)
    np.testing.assert_allclose(yv, expected, rtol=1e-6, atol=1e-10)
    assert rho == pytest.approx(1.0 / (sv @ yv))


def test_a_stream_of_small_chunks_nears_the_optimum_with_its_remembered_gradients():
    """Two epochs of 20 chunks of 1,000 rows (10 classes, a softmax teacher): the test
    log-loss is within 0.005 of the batch optimum's on average over 3 seeds (0.0036;
    0.0073 when each anchor is its own chunk's gradient alone, ``MEMORY_DECAY = 0``)."""
    gaps = []
    for seed in range(3):
        rng = np.random.default_rng(seed)
        X = rng.standard_normal((25000, 50))
        z = X @ (rng.standard_normal((50, 10)) * 2 / np.sqrt(50))
        p = np.exp(z - z.max(axis=1, keepdims=True))
        y = np.minimum(
            (p.cumsum(axis=1) < p.sum(axis=1, keepdims=True) * rng.random((25000, 1))).sum(axis=1),
            9,
        )
        X_test, y_test, X, y = X[20000:], y[20000:], X[:20000], y[:20000]
        best = log_loss(y_test, SoftmaxRegressionClassifier().fit(X, y).predict_proba(X_test))
        model = SoftmaxRegressionClassifier(solver="sgd", random_state=seed)
        chunks = np.array_split(rng.permutation(len(y)), 20)
        for rows in chunks * 2:
            model.partial_fit(X[rows], y[rows], classes=np.arange(10))
        gaps.append(log_loss(y_test, model.predict_proba(X_test)) - best)
    assert np.mean(gaps) < 0.005


@pytest.mark.parametrize("rows, padding", [(1, 0), (3, 0), (1, 15)])
def test_a_stream_of_single_rows_converges(rows, padding):
    """Calls of one row (the classic online setting), of three, and of one row padded
    with 15 rows of zero weight (a masked fixed-size batch): the test log-loss after two
    epochs is within 0.03 of the batch optimum's (one row's Hessian diagonal as the
    preconditioner, or its curvature pair, made the one-row stream diverge; counting
    zero-weight rows as rows brought it back)."""
    X, y = make_classification(900, 10, n_informative=6, n_redundant=0, n_classes=3, random_state=0)
    X_test, y_test, X, y = X[600:], y[600:], X[:600], y[:600]
    best = log_loss(y_test, SoftmaxRegressionClassifier().fit(X, y).predict_proba(X_test))
    model = SoftmaxRegressionClassifier(random_state=0)
    pad = np.random.default_rng(9).integers(0, len(y), size=padding)
    weights = np.r_[np.ones(rows), np.zeros(padding)]
    for epoch in range(2):
        order = np.random.default_rng(epoch).permutation(len(y))
        for a in range(0, len(y), rows):
            batch = np.r_[order[a : a + rows], pad]
            model.partial_fit(
                X[batch], y[batch], classes=[0, 1, 2], sample_weight=weights[: batch.size]
            )
    assert log_loss(y_test, model.predict_proba(X_test)) < best + 0.03


def test_single_rows_after_a_batch_fit_fine_tune_it():
    """300 one-row calls after a batch fit of 1,000 rows of well-separated classes: the
    test log-loss never rises more than 0.05 (it reached 10.8 when the first rows'
    preconditioner was one row's diagonal until 256 rows were pooled)."""
    X, y = make_classification(
        1600, 10, n_informative=6, n_redundant=0, n_classes=3, class_sep=2.5, random_state=0
    )
    X_test, y_test = X[1300:], y[1300:]
    model = SoftmaxRegressionClassifier(C=100.0, random_state=0).fit(X[:1000], y[:1000])
    before = log_loss(y_test, model.predict_proba(X_test))
    worst = before
    for i in range(1000, 1300):
        model.partial_fit(X[i : i + 1], y[i : i + 1])
        worst = max(worst, log_loss(y_test, model.predict_proba(X_test)))
    assert worst < before + 0.05


def test_remembered_gradients_are_carried_exactly_on_a_quadratic():
    """On a quadratic data term (every chunk's Hessian A, chunk c's gradient A (v - b_c)),
    carrying by the products A s is exact: a call's anchor gradient is the discounted
    weighted mean of every chunk's gradient at that call's anchor, plus the penalty's."""
    from softmax_sk import _stochastic
    from softmax_sk._penalty import ElasticNet

    rng = np.random.default_rng(0)
    n = 6
    A = rng.normal(size=(n, n))
    A = A @ A.T + np.eye(n)
    penalty = ElasticNet.from_C(2.0, 0.0, np.ones(10), np.ones(n, dtype=bool))
    decay = _stochastic.MEMORY_DECAY
    state = _stochastic.init(0.1, 0)
    same = types.SimpleNamespace(push=lambda g: g, pull=lambda g: g)  # no centring
    seen, previous = [], None
    for _ in range(5):
        v, b, weight = rng.normal(size=n), rng.normal(size=n), rng.uniform(1, 3)
        start = _stochastic.Anchor(
            v, 0.0, A @ (v - b) + penalty.smooth_gradient(v), None, 0.0, None, None
        )
        product = None if previous is None else (v - previous, A @ (v - previous))
        start, state = _stochastic._remembered(start, state, product, same, penalty, weight)
        seen = [(b_c, w_c * decay) for b_c, w_c in seen] + [(b, weight)]
        expected = sum(w_c * A @ (v - b_c) for b_c, w_c in seen) / sum(w for _, w in seen)
        np.testing.assert_allclose(start.gradient, expected + penalty.smooth_gradient(v))
        previous = v


def test_a_stream_recovers_from_a_chunk_of_another_scale():
    """One chunk of features times 1e200 (finite, accepted) in a stream: its gradient,
    remembered and discounted by half a call, would steer the anchors for hundreds of
    calls (accuracy stuck at 0.16); the memory is discarded on the scale change and
    three more epochs of normal chunks recover what the stream had (0.67)."""
    X, y = make_classification(
        1200, 10, n_informative=6, n_redundant=0, n_classes=3, random_state=0
    )
    model = SoftmaxRegressionClassifier(random_state=0)
    model.partial_fit(X[:300], y[:300], classes=[0, 1, 2])
    with np.errstate(all="ignore"), pytest.warns(ConvergenceWarning, match="another scale"):
        model.partial_fit(X[300:600] * 1e200, y[300:600])
    for _ in range(3):
        for a in range(0, 1200, 300):
            model.partial_fit(X[a : a + 300], y[a : a + 300])
    assert np.all(np.isfinite(model.coef_))
    assert model.score(X, y) > 0.6


def test_the_curvature_floor_is_positive_for_a_call_of_one_class():
    """A call whose rows are all of one class (frequency 1) once had a zero floor there."""
    from softmax_sk import _stochastic
    from softmax_sk._layout import Layout

    X, y = make_problem(3, n_samples=40)
    layout = Layout(X.shape[1], 3, True)
    for rows, batch in [(np.flatnonzero(y == 0)[:1], 1), (np.flatnonzero(y == 0)[:20], 20)]:
        data = _stochastic.Rows(X[rows], y[rows], np.ones(rows.size))
        floor = _stochastic.curvature_floor(data.loss(layout), data, layout, batch)
        assert np.all(floor > 0)


@pytest.mark.parametrize("n_fields", [7, 11])
def test_a_state_pickled_by_an_earlier_version_continues(n_fields):
    """0.3.0's SGDState had seven fields, 0.4.0's eleven; a pickle of either loads with
    the new ones empty and the stream goes on."""
    X, y = make_problem(3, n_samples=900)
    clf = SoftmaxRegressionClassifier(random_state=0).partial_fit(X[:300], y[:300], [0, 1, 2])
    clf.optimizer_state_ = SGDState(*clf.optimizer_state_[:n_fields])
    clf = pickle.loads(pickle.dumps(clf))
    clf.partial_fit(X[300:600], y[300:600]).partial_fit(X[600:], y[600:])
    state = clf.optimizer_state_
    assert len(state.pairs) == (1 if n_fields == 7 else 2) and state.curvature is not None
    assert state.memory is not None and state.memory_weight == pytest.approx(450.0)


def test_centred_coordinates_are_those_of_the_centred_features(rng):
    """``_centring.Centred`` on X is the plain objective on ``X - m`` (built here by hand):
    the same value, gradient, Hessian-vector product and Hessian diagonal at any ``u``,
    and ``to_model(u)`` predicts on X what ``u`` predicts on ``X - m``."""
    from softmax_sk._centring import Centred, feature_mean
    from softmax_sk._layout import Layout
    from softmax_sk._objective import Objective
    from softmax_sk._penalty import ElasticNet

    X, y = make_problem(4, n_samples=300, n_features=8)
    X = X * [1, 10, 100, 0.1, 1, 1, 1, 1] + [5, -50, 300, 0, 1, 2, 0, 0]
    sw = rng.uniform(0.5, 2.0, size=len(y))
    layout = Layout(X.shape[1], 4, True)
    penalty = ElasticNet.from_C(0.7, 0.3, sw, layout.penalized())
    loss = _stochastic_rows(X, y, sw).loss(layout)
    mean = feature_mean(loss, True)
    np.testing.assert_allclose(mean, np.average(X, axis=0, weights=sw))
    centred = Centred(Objective(loss, penalty), layout, mean)
    by_hand = Objective(_stochastic_rows(X - mean, y, sw).loss(layout), penalty)
    u, v = rng.normal(scale=0.1, size=(2, layout.size))
    f, g, hessp = centred.fun_grad_hessp(u)
    f_ref, g_ref, hessp_ref = by_hand.fun_grad_hessp(u)
    assert f == pytest.approx(f_ref, rel=1e-12)
    np.testing.assert_allclose(g, g_ref, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(hessp(v), hessp_ref(v), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(centred.preconditioner(u), by_hand.preconditioner(u), rtol=1e-9)
    np.testing.assert_allclose(centred.preconditioner(), by_hand.preconditioner(), rtol=1e-9)
    coef, intercept = layout.unpack(centred.to_model(u), np.float64)
    coef_u, intercept_u = layout.unpack(u, np.float64)
    np.testing.assert_allclose(
        X @ coef.T + intercept, (X - mean) @ coef_u.T + intercept_u, rtol=1e-9, atol=1e-9
    )
    np.testing.assert_allclose(centred.to_solver(centred.to_model(u)), u, atol=1e-12)


def _stochastic_rows(X, y, sw):
    from softmax_sk._stochastic import Rows

    return Rows(X, y, sw)


@pytest.mark.parametrize("how", ["fit", "partial_fit"])
def test_sgd_does_not_depend_on_where_the_features_sit(how):
    """The intercept is not penalised, so ``X + c`` has the same optimum (up to the
    intercept) and the steps, taken on centred features, the same path: the same
    probabilities (20 epochs at ``tol=0``, which never stops early: the stopping rule
    reads the model's gradient, which the shift changes). Before centring, features
    shifted by -300..300 left fit 0.075 above LogisticRegression's objective after 20
    epochs (now at it, at the default ``tol``) and 2 epochs of 6 chunks 0.55 above it
    (0.19 unshifted; a stream reads C per weight seen, so it aims elsewhere)."""
    X, y = make_problem(3, n_samples=3000, n_features=8)
    shifted = X + np.linspace(-300, 300, X.shape[1])
    kw = {"C": 10.0, "solver": "sgd", "random_state": 0}
    if how == "fit":
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)  # tol=0: never converged
            models = [
                SoftmaxRegressionClassifier(max_iter=20, tol=0, **kw).fit(Z, y)
                for Z in (X, shifted)
            ]
    else:
        models = [_stream(SoftmaxRegressionClassifier(**kw), Z, y, 2, 6, 0) for Z in (X, shifted)]
    np.testing.assert_allclose(
        models[1].predict_proba(shifted), models[0].predict_proba(X), rtol=1e-6, atol=1e-9
    )
    if how == "fit":  # and at the default tol it is the batch optimum, as scikit-learn finds it
        model = SoftmaxRegressionClassifier(max_iter=20, **kw).fit(shifted, y)
        assert model.convergence_["converged"]
        ref = LogisticRegression(C=10.0, tol=1e-10, max_iter=10_000).fit(shifted, y)
        assert _objective(model, shifted, y, 10.0) <= _objective(ref, shifted, y, 10.0) * (1 + 1e-3)


def test_calls_of_few_rows_centre_on_the_streams_origin():
    """A stream of one 500-row call, then calls of 100 rows (too few for a mean of their
    own): every call steps on features centred on the stream's origin, so the stream
    does not depend on a shift of the features (before 0.6.1, the 100-row calls stepped
    in the model's coordinates: probabilities 0.16 apart)."""
    X, y = make_problem(3, n_samples=2500, n_features=8)
    shifted = X + np.linspace(-300, 300, X.shape[1])
    models = []
    for Z in (X, shifted):
        model = SoftmaxRegressionClassifier(C=10.0, random_state=0)
        for rows in [slice(0, 500)] + [slice(a, a + 100) for a in range(500, 2500, 100)]:
            model.partial_fit(Z[rows], y[rows], classes=[0, 1, 2])
        models.append(model)
    np.testing.assert_allclose(
        models[1].predict_proba(shifted), models[0].predict_proba(X), rtol=1e-6, atol=1e-9
    )


def _objective(model, X, y, C):
    p = model.predict_proba(X)[np.arange(len(y)), y]
    return -C * np.sum(np.log(p)) + 0.5 * np.sum(model.coef_**2)


def test_a_stream_of_mixed_call_sizes_keeps_its_preconditioner_in_step():
    """Features shifted by 1e3; calls of 300 and 100 rows. When a call of fewer than 256
    rows stepped in the model's coordinates with the preconditioner of the centred ones,
    the first 100-row call after three of 300 raised the log-loss from 0.849 to 0.938; a
    change of coordinates starts a fresh preconditioner, and every call lowers it."""
    X, y = make_classification(4000, 5, n_informative=3, n_classes=3, random_state=0)
    X = X + np.array([1e3, -1e3, 0, 0, 0])
    model, start, losses = SoftmaxRegressionClassifier(solver="sgd", random_state=0), 0, []
    for n in (300, 300, 300, 100, 100, 100, 300):
        model.partial_fit(X[start : start + n], y[start : start + n], classes=[0, 1, 2])
        losses.append(log_loss(y, model.predict_proba(X)))
        start += n
    assert np.all(np.diff(losses) < 0), losses


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_a_constant_feature_stays_put_without_a_penalty(dtype):
    """A constant column (0.1) with ``C=inf``: its centred spread is exactly 0, so its
    coefficients do not move. When the mean was off by rounding (a spread of 1e-31) the
    gradient's rounding over it gave coefficients of 5e13 and predictions that changed
    by 1.0 with X cast to float32."""
    X, y = make_classification(1000, 4, n_informative=3, n_redundant=0, random_state=0)
    X = np.column_stack([X, np.full(len(y), 0.1)]).astype(dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model = SoftmaxRegressionClassifier(solver="sgd", C=np.inf, max_iter=20, random_state=0)
        model.fit(X, y)
        stream = SoftmaxRegressionClassifier(C=np.inf, random_state=0)
        for chunk in (slice(0, 500), slice(500, 1000)):
            stream.partial_fit(X[chunk], y[chunk], classes=[0, 1])
    assert np.max(np.abs(model.coef_[:, -1])) < 1e-3
    assert np.max(np.abs(stream.coef_[:, -1])) < 1e-3
    other = X.astype(np.float32 if dtype == np.float64 else np.float64)
    np.testing.assert_allclose(model.predict_proba(other), model.predict_proba(X), atol=1e-5)


def test_feature_mean_is_exact_enough_and_declines_what_it_cannot_centre():
    """A million float32 rows of 1e4 + 0.01 N(0, 1): a float32 sum was off by 12.6, a
    thousand times the spread; summed as differences from each block's first row it is
    off by rounding only. Sparse X, no intercept, and a sum that overflows (``m W`` could
    too) are not centred."""
    from softmax_sk._centring import feature_mean
    from softmax_sk._layout import Layout
    from softmax_sk._loss import SoftmaxLoss

    rng = np.random.default_rng(0)
    X = (1e4 + 0.01 * rng.standard_normal((1_000_000, 2))).astype(np.float32)
    weights = rng.uniform(0.5, 2.0, size=len(X))
    y = np.arange(len(X)) % 3
    layout = Layout(2, 3, True)
    expected = np.average(X.astype(np.float64), axis=0, weights=weights)
    loss = SoftmaxLoss(X, y, weights, layout, n_threads=2)
    np.testing.assert_allclose(feature_mean(loss, True), expected, rtol=0, atol=1e-7)
    assert feature_mean(loss, False) is None  # sparse rows
    assert feature_mean(SoftmaxLoss(X, y, weights, Layout(2, 3, False)), True) is None
    huge = np.array([[1.5e308, 0.0], [-1.5e308, 1.0]])
    with np.errstate(over="ignore"):
        assert feature_mean(SoftmaxLoss(huge, y[:2], np.ones(2), layout), True) is None


def test_sgd_stopping_rule_reads_the_models_gradient():
    """``tol`` bounds the max-norm of the model's gradient over ``C * sum(s)``, computed
    here by hand, not of the centred coordinates' (features shifted by 1e4: it said
    converged at tol=1e-2 with that gradient at 26)."""
    X, y = make_classification(2000, 5, n_informative=3, n_classes=3, random_state=0)
    X = X + np.array([1e4, -1e4, 3e3, 0, 0])
    for tol in (1e-2, 1e-4):
        model = SoftmaxRegressionClassifier(solver="sgd", tol=tol, max_iter=100, random_state=0)
        model.fit(X, y)
        assert model.convergence_["converged"]
        residual = model.predict_proba(X) - np.eye(3)[y]
        gradient = np.vstack([X.T @ residual + model.coef_.T, residual.sum(axis=0)]) / len(y)
        assert model.convergence_["gradient_norm"] == pytest.approx(
            np.abs(gradient).max(), rel=1e-6
        )
        assert np.abs(gradient).max() <= tol


def test_a_diverging_stream_says_so():
    """``eta0=10`` on a stream of 300-row calls: the coefficients reach 1e9 and the
    log-loss 529 by the third epoch, silently before; now the calls warn from the
    second on (its mean log-loss at the incoming model is 6.9 times log(K)). The same
    stream at the default ``eta0`` does not warn, nor one whose penalty was raised by
    ``set_params`` (its objective's penalty share is large, its log-loss is not)."""
    X, y = make_classification(3000, 10, n_informative=6, n_classes=3, random_state=0)
    chunks = np.array_split(np.arange(len(y)), 10)
    model = SoftmaxRegressionClassifier(eta0=10.0, random_state=0)
    with pytest.warns(ConvergenceWarning, match="its step is 10, taken from eta0") as record:
        for chunk in chunks[:2]:
            model.partial_fit(X[chunk], y[chunk], classes=[0, 1, 2])
    assert record[0].filename == __file__  # the caller's line, not softmax-sk's
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        model = SoftmaxRegressionClassifier(random_state=0)
        for _ in range(3):
            for chunk in chunks:
                model.partial_fit(X[chunk], y[chunk], classes=[0, 1, 2])
        model = SoftmaxRegressionClassifier(C=1e3).fit(X, y).set_params(C=1e-5)
        for chunk in chunks:
            model.partial_fit(X[chunk], y[chunk])


def _many_classes(n=8000, d=4, k=100, seed=0):
    """Blobs of ``k`` classes in ``d`` dimensions: an anchor's probabilities (n x k) take
    25 times the memory of X."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(k, d)) * 2
    y = np.arange(n) % k
    return centres[y] + rng.normal(size=(n, d)), y


@pytest.mark.parametrize("how", ["fit", "partial_fit"])
def test_an_anchor_too_large_to_keep_is_computed_again_per_step(monkeypatch, how):
    """Beyond ``KEEP_BYTES`` (and X's own size) the anchor keeps no probabilities and each
    step computes its rows' again: the same steps up to rounding, and the fit's peak
    memory (tracemalloc) well below the rows x k array (6.4 MB here) it would keep. Before,
    a full-softmax fit at K=100,000 on 160,000 float32 rows asked for 64 GB."""
    import tracemalloc

    from softmax_sk import _stochastic

    X, y = _many_classes()
    kw = {"C": 10.0, "solver": "sgd", "random_state": 0, "batch_size": 50}
    models, peaks = [], []
    for budget in (2**30, 0):
        monkeypatch.setattr(_stochastic, "KEEP_BYTES", budget)
        model = SoftmaxRegressionClassifier(max_iter=3, tol=0, **kw)
        tracemalloc.start()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)  # tol=0: never converged
            if how == "fit":
                model.fit(X, y)
            else:
                _stream(model, X, y, 3, 1, seed=0)  # calls of all rows
        peaks.append(tracemalloc.get_traced_memory()[1])
        tracemalloc.stop()
        models.append(model)
    assert not _stochastic.keeps(_stochastic.Rows(X, y, np.ones(len(y))), 100)
    np.testing.assert_allclose(models[1].coef_, models[0].coef_, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(models[1].intercept_, models[0].intercept_, rtol=1e-8, atol=1e-10)
    kept = len(y) * 100 * X.itemsize
    assert peaks[0] > kept > 2 * peaks[1], peaks
    if how == "fit":  # at the default tol too: no Newton-CG check, whose products keep them
        tracemalloc.start()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            SoftmaxRegressionClassifier(max_iter=20, **kw).fit(X, y)
        assert 2 * tracemalloc.get_traced_memory()[1] < kept
        tracemalloc.stop()


def test_a_state_without_an_origin_takes_one_on_its_next_large_call():
    """A state pickled by 0.6.0 has no origin: the next call of 256 rows or more takes
    one, though it does not take the preconditioner again, and the stream steps centred
    from there (shift-invariant). Before, it stepped uncentred until the weight seen had
    doubled."""
    X, y = make_problem(3, n_samples=1400, n_features=8)
    shifted = X + np.linspace(-300, 300, X.shape[1])
    models = []
    for Z in (X, shifted):
        model = SoftmaxRegressionClassifier(C=10.0, random_state=0)
        model.partial_fit(Z[:800], y[:800], classes=[0, 1, 2])
        model.optimizer_state_ = model.optimizer_state_._replace(origin=None)
        for rows in (slice(800, 1100), slice(1100, 1400)):
            model.partial_fit(Z[rows], y[rows])
        models.append(model)
    np.testing.assert_allclose(
        models[1].predict_proba(shifted), models[0].predict_proba(X), rtol=1e-6, atol=1e-9
    )


@pytest.mark.parametrize("shuffle", [True, False])
def test_a_large_call_steps_on_enough_of_its_minibatches(shuffle):
    """A call of 40,000 rows takes 25 steps of 1,000 rows (``CALL_ROWS`` = 25,000 rows
    read, more than ``CALL_BATCHES`` = 24 minibatches), 250 of 100 rows (24 of 100 rows
    alone: a review's sparse call in minibatches of 32 ended above the zero model), and
    with the first three quarters of zero weight, all 10 minibatches of the last; the
    starting gradient reads every row. Each lowers the log-loss."""
    X, y = make_problem(3, n_samples=40_000, n_features=8)
    weight = (np.arange(len(y)) >= 30_000).astype(float)  # the last quarter counts
    for batch_size, sample_weight, steps in (
        (1000, None, 25),
        (100, None, 250),
        (1000, weight, 10),
    ):
        model = SoftmaxRegressionClassifier(batch_size=batch_size, shuffle=shuffle, random_state=0)
        model.partial_fit(X, y, classes=[0, 1, 2], sample_weight=sample_weight)
        assert model.optimizer_state_.n_steps == steps
        assert log_loss(y, model.predict_proba(X)) < np.log(3) - 0.1
