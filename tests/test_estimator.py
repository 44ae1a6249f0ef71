"""The estimator against scikit-learn's LogisticRegression, and its contract with users."""

import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from conftest import make_problem
from scipy.special import log_softmax as scipy_log_softmax
from scipy.special import softmax as scipy_softmax
from sklearn.exceptions import ConvergenceWarning, NotFittedError
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import log_loss

from softmax_sk import SoftmaxRegressionClassifier


def _sklearn(**params):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # its lbfgs stops on ftol
        return LogisticRegression(solver="lbfgs", tol=1e-10, max_iter=10_000, **params)


@pytest.mark.parametrize("n_classes", [2, 3, 10])
@pytest.mark.parametrize("fit_intercept", [True, False])
@pytest.mark.parametrize("C", [0.3, np.inf])
@pytest.mark.parametrize("weighted", [False, True])
def test_agrees_with_scikit_learn(n_classes, fit_intercept, C, weighted):
    X, y = make_problem(n_classes)
    sw = np.random.default_rng(3).uniform(0.2, 2.0, size=y.size) if weighted else None
    params = dict(C=C, fit_intercept=fit_intercept)
    ref = _sklearn(**params).fit(X, y, sample_weight=sw)
    ours = SoftmaxRegressionClassifier(tol=1e-10, max_iter=1000, **params).fit(
        X, y, sample_weight=sw
    )
    np.testing.assert_allclose(ours.predict_proba(X), ref.predict_proba(X), atol=1e-5)
    assert ours.coef_.shape == ref.coef_.shape and ours.intercept_.shape == ref.intercept_.shape
    if np.isfinite(C):  # without a penalty K >= 3 softmax coefficients are not unique
        np.testing.assert_allclose(ours.coef_, ref.coef_, rtol=1e-4, atol=1e-6)
        np.testing.assert_allclose(ours.intercept_, ref.intercept_, rtol=1e-4, atol=1e-6)
    np.testing.assert_array_equal(ours.predict(X), ref.predict(X))
    np.testing.assert_allclose(ours.decision_function(X), ref.decision_function(X), atol=1e-3)


@pytest.mark.parametrize("class_weight", ["balanced", {0: 3.0, 2: 0.5}])
def test_class_weight_agrees_with_scikit_learn(class_weight):
    X, y = make_problem(3)
    y = np.where(y == 1, np.where(np.arange(y.size) % 3 == 0, 1, 0), y)  # imbalance
    sw = np.random.default_rng(4).uniform(0.5, 1.5, size=y.size)
    ref = _sklearn(class_weight=class_weight).fit(X, y, sample_weight=sw)
    ours = SoftmaxRegressionClassifier(class_weight=class_weight, tol=1e-10).fit(
        X, y, sample_weight=sw
    )
    np.testing.assert_allclose(ours.coef_, ref.coef_, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize(
    "strings, class_weight",
    [
        (True, {"Yes": 10.0}),  # misspelt: no key matches, every class unweighted
        (False, {0: 2.0, 5: 3.0}),
        (False, {"1": 2.0}),  # mistyped
        (False, {0: 1.0, 1: 2.0, 2: 3.0, 7: 4.0}),  # every class has a key: 7 is ignored
        (False, {1: 3.0}),
        (True, {"yes": 2.0}),
    ],
)
def test_class_weight_keys_are_matched_as_scikit_learn_matches_them(strings, class_weight):
    """A key that is no class is an error where a class has no key, as in scikit-learn;
    0.5.1 and before ignored it, and a misspelt key fitted the unweighted model."""
    X, y = make_problem(3, n_samples=90)
    if strings:
        y = np.array(["no", "yes"])[y % 2]
    try:
        _sklearn(class_weight=class_weight).fit(X, y)
    except ValueError:
        with pytest.raises(ValueError, match="class_weight has keys .* that are no class"):
            SoftmaxRegressionClassifier(class_weight=class_weight).fit(X, y)
    else:
        SoftmaxRegressionClassifier(class_weight=class_weight).fit(X, y)


def test_binary_is_exposed_like_scikit_learn():
    X, y = make_problem(2)
    labels = np.array(["no", "yes"])[y]
    clf = SoftmaxRegressionClassifier().fit(X, labels)
    assert clf.coef_.shape == (1, X.shape[1]) and clf.intercept_.shape == (1,)
    assert clf.decision_function(X).shape == (X.shape[0],)
    assert clf.n_iter_.shape == (1,)
    np.testing.assert_array_equal(clf.classes_, ["no", "yes"])
    np.testing.assert_array_equal(
        clf.predict(X), np.where(clf.decision_function(X) > 0, "yes", "no")
    )


def test_probabilities_and_log_probabilities():
    """Against scipy's softmax and log-softmax of independently computed logits, on a
    model confident enough that some probabilities underflow to 0 in float64."""
    X, y = make_problem(3)
    clf = SoftmaxRegressionClassifier(C=1e6, tol=1e-8).fit(X, y)
    X = X * 300  # far from the data: logits hundreds apart
    z = X @ clf.coef_.T + clf.intercept_
    p, lp = clf.predict_proba(X), clf.predict_log_proba(X)
    np.testing.assert_allclose(p, scipy_softmax(z, axis=1), rtol=1e-12, atol=1e-300)
    np.testing.assert_allclose(lp, scipy_log_softmax(z, axis=1), rtol=1e-12)
    underflow = p == 0.0
    assert underflow.any()  # the case log(predict_proba) cannot handle
    assert np.all(np.isfinite(lp)) and np.all(lp[underflow] < -745)
    np.testing.assert_allclose(p.sum(axis=1), 1.0)


def test_extreme_inputs_give_finite_probabilities():
    X, y = make_problem(3)
    clf = SoftmaxRegressionClassifier().fit(X, y)
    X_big = np.vstack([X[:5] * 1e300, -X[:5] * 1e300, X[:5] * 1e-300])
    with np.errstate(over="ignore"):
        p = clf.predict_proba(X_big)
    assert np.all(np.isfinite(p))
    np.testing.assert_allclose(p.sum(axis=1), 1.0)


@pytest.mark.parametrize("fmt", ["C", "F", "csr", "csc"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dtype_kept_and_input_unchanged(fmt, dtype):
    X, y = make_problem(3)
    X = X.astype(dtype)
    if fmt == "F":
        X = np.asfortranarray(X)
    elif fmt in ("csr", "csc"):
        X = sp.csr_matrix(X) if fmt == "csr" else sp.csc_matrix(X)
    before = X.copy()
    clf = SoftmaxRegressionClassifier().fit(X, y)
    assert clf.coef_.dtype == dtype and clf.intercept_.dtype == dtype
    assert clf.predict_proba(X).dtype == dtype
    after = X.toarray() if sp.issparse(X) else X
    np.testing.assert_array_equal(after, before.toarray() if sp.issparse(before) else before)
    ref = SoftmaxRegressionClassifier().fit(
        np.asarray(before.toarray() if sp.issparse(before) else before, dtype=np.float64), y
    )
    np.testing.assert_allclose(clf.coef_, ref.coef_, rtol=2e-3, atol=2e-4)


def test_dense_data_is_not_copied(monkeypatch):
    """The data term sees the caller's array itself (C and F order)."""
    import softmax_sk._estimator as est

    seen = []
    original = est.SoftmaxLoss

    def spy(X, *args, **kwargs):
        seen.append(X)
        return original(X, *args, **kwargs)

    monkeypatch.setattr(est, "SoftmaxLoss", spy)
    X, y = make_problem(3)
    for arr in (np.ascontiguousarray(X, dtype=np.float32), np.asfortranarray(X)):
        SoftmaxRegressionClassifier().fit(arr, y)
        assert np.shares_memory(seen[-1], arr)


def test_convergence_warning_when_max_iter_is_hit():
    X, y = make_problem(3)
    with pytest.warns(ConvergenceWarning, match="increase max_iter"):
        clf = SoftmaxRegressionClassifier(max_iter=2, solver="lbfgs").fit(X, y)
    assert clf.n_iter_[0] == 2


def test_warm_start_continues_from_previous_coefficients():
    X, y = make_problem(3)
    clf = SoftmaxRegressionClassifier(warm_start=True, tol=1e-8).fit(X, y)
    n_cold = clf.n_iter_[0]
    clf.fit(X, y)
    assert clf.n_iter_[0] < n_cold
    assert clf.n_iter_[0] <= 1


# -- bad input -------------------------------------------------------------------------------

BAD_FIT = [
    (np.array([[np.nan, 1.0], [1.0, 2.0]]), [0, 1], None, ValueError, "NaN"),
    (np.array([[np.inf, 1.0], [1.0, 2.0]]), [0, 1], None, ValueError, "infinity"),
    (np.empty((0, 3)), [], None, ValueError, "0 sample"),
    (np.ones((4, 2)), [1, 1, 1, 1], None, ValueError, "one class"),
    (np.ones((4, 2)), [0.1, 0.5, 0.7, 1.2], None, ValueError, "continuous"),
    (np.ones((4, 2)), [[0, 1], [1, 0], [1, 1], [0, 0]], None, ValueError, "OneVsRestClassifier"),
    (np.ones((2, 2, 2)), [0, 1], None, ValueError, "dim 3"),
    (np.ones((4, 2)), [0, 1, 0], None, ValueError, "inconsistent numbers of samples"),
    (np.ones((4, 2)), [0, 1, 0, 1], [1, -1, 1, 1], ValueError, "negative"),
    (np.ones((4, 2)), [0, 1, 0, 1], [1, np.nan, 1, 1], ValueError, "NaN or infinity"),
    (np.ones((4, 2)), [0, 1, 0, 1], [1, 1, 1], ValueError, "shape"),
    (np.ones((4, 2)), [0, 1, 0, 1], [0, 0, 0, 0], ValueError, "sum to zero"),
    (np.ones((4, 2)), [0, 1, 0, 1], ["a", "b", "c", "d"], TypeError, "numeric"),
    (np.array([["a", "b"], ["c", "d"]]), [0, 1], None, ValueError, "convert"),
]


@pytest.mark.parametrize("X, y, sw, error, match", BAD_FIT)
def test_bad_fit_input_is_refused_clearly(X, y, sw, error, match):
    with pytest.raises(error, match=match):
        SoftmaxRegressionClassifier().fit(X, y, sample_weight=sw)


@pytest.mark.parametrize(
    "params, match",
    [
        (dict(C=0.0), "'C' parameter"),
        (dict(C=-1), "'C' parameter"),
        (dict(C="1"), "'C' parameter"),
        (dict(C=np.nan), "'C' parameter"),
        (dict(l1_ratio=1.5), "'l1_ratio' parameter"),
        (dict(tol=-1.0), "'tol' parameter"),
        (dict(max_iter=1.5), "'max_iter' parameter"),
        (dict(max_iter=-1), "'max_iter' parameter"),
        (dict(solver="sag"), "'solver' parameter"),
        (dict(class_weight="auto"), "'class_weight' parameter"),
        (dict(fit_intercept="yes"), "'fit_intercept' parameter"),
        (dict(n_jobs=0), "'n_jobs' parameter"),
        (dict(n_jobs="2"), "'n_jobs' parameter"),
        (dict(verbose=-1), "'verbose' parameter"),
    ],
)
def test_bad_parameters_are_refused_clearly(params, match):
    """One error type that is both a ValueError and a TypeError, as scikit-learn raises."""
    X, y = make_problem(3)
    for error in (ValueError, TypeError):
        with pytest.raises(error, match=match):
            SoftmaxRegressionClassifier(**params).fit(X, y)


def test_l1_with_lbfgs_is_refused_with_the_solvers_that_can():
    X, y = make_problem(3)
    with pytest.raises(ValueError, match="supports only the L2 penalty"):
        SoftmaxRegressionClassifier(solver="lbfgs", l1_ratio=0.5).fit(X, y)


def test_predict_before_fit_and_wrong_feature_count():
    X, y = make_problem(3)
    clf = SoftmaxRegressionClassifier()
    for method in ("predict", "predict_proba", "predict_log_proba", "decision_function"):
        with pytest.raises(NotFittedError):
            getattr(clf, method)(X)
    clf.fit(X, y)
    with pytest.raises(ValueError, match="features"):
        clf.predict(X[:, :3])


def test_n_jobs_does_not_change_the_model():
    """Threads split the rows differently, so sums differ in rounding only.

    The problem has a redundant feature: coefficients along the near-null
    direction of X^T X are determined only to about tol / l2, so the
    well-determined quantities are compared: probabilities and the objective.
    """
    X, y = make_problem(3, n_samples=40_000)  # several row blocks
    one = SoftmaxRegressionClassifier(n_jobs=1, tol=1e-10).fit(X, y)
    two = SoftmaxRegressionClassifier(n_jobs=2, tol=1e-10).fit(X, y)
    np.testing.assert_allclose(two.predict_proba(X), one.predict_proba(X), rtol=1e-7, atol=1e-12)
    assert log_loss(y, two.predict_proba(X)) == pytest.approx(
        log_loss(y, one.predict_proba(X)), rel=1e-13
    )


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize(
    "n_jobs, n_classes, sparse, threads",
    [
        (None, 3, False, 1),  # few classes, dense: BLAS's own threads
        (None, 40, False, 3),  # many classes: the softmax is the heavy part
        (None, 3, True, 3),  # sparse products run on one core
        (-1, 3, False, 3),
        (-2, 3, False, 2),  # joblib's convention: all CPUs but one
        (1, 40, True, 1),
        (2, 3, False, 2),
        (10**6, 3, False, 3),  # never more than the CPUs
    ],
)
def test_n_jobs_sets_the_threads_of_the_loss(n_jobs, n_classes, sparse, threads, monkeypatch):
    import softmax_sk._engine as _engine
    import softmax_sk._estimator as estimator_module

    seen = []

    class Recording(estimator_module.SoftmaxLoss):
        def __init__(self, *args, **kwargs):
            seen.append(kwargs["n_threads"])
            super().__init__(*args, **kwargs)

    monkeypatch.setattr(estimator_module, "SoftmaxLoss", Recording)
    monkeypatch.setattr(_engine, "available_cpus", lambda: 3)
    rng = np.random.default_rng(0)
    X = rng.normal(size=(400, 4)).astype(np.float32)
    y = np.arange(400) % n_classes
    SoftmaxRegressionClassifier(n_jobs=n_jobs, max_iter=3).fit(sp.csr_matrix(X) if sparse else X, y)
    assert seen == [threads]


@pytest.mark.parametrize("solver", ["lbfgs", "newton-cg"])
def test_fit_adds_little_memory_next_to_X(solver):
    """Peak additional memory of fit (tracemalloc) stays far below the size of X,
    also on the path that warns about convergence."""
    import tracemalloc

    X = np.random.default_rng(0).normal(size=(4000, 400)).astype(np.float32)
    y = np.random.default_rng(1).integers(0, 5, size=4000)
    tracemalloc.start()
    try:
        with pytest.warns(ConvergenceWarning):
            SoftmaxRegressionClassifier(solver=solver, max_iter=2).fit(X, y)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 0.5 * X.nbytes


def test_probabilities_finite_when_float32_coefficients_overflow_the_logits():
    """Logits past float32's range from huge coefficients (not huge X): the probabilities
    are those of the float64 logits, which do not overflow."""
    X, y = make_problem(3)
    clf = SoftmaxRegressionClassifier().fit(X.astype(np.float32), y)
    rng = np.random.default_rng(0)
    clf.coef_ = (rng.uniform(-1, 1, size=clf.coef_.shape) * 3e38).astype(np.float32)
    X_new = X[:20].astype(np.float32)
    z64 = X_new.astype(np.float64) @ clf.coef_.T.astype(np.float64) + clf.intercept_
    with np.errstate(over="ignore"):
        assert np.isinf(X_new @ clf.coef_.T).any()  # the float32 logits overflow
    p = clf.predict_proba(X_new)
    assert p.dtype == np.float32 and np.all(np.isfinite(p))
    np.testing.assert_allclose(p, scipy_softmax(z64, axis=1), atol=1e-6)
    np.testing.assert_array_equal(clf.predict(X_new), clf.classes_[z64.argmax(axis=1)])
    assert not np.isnan(clf.decision_function(X_new)).any()
