"""Regression tests for known defects, written against the public API only.

Each test states the correct behaviour and compares with independent
references (scikit-learn's ``LogisticRegression``, closed forms, optimality
certificates), never with stored outputs of this package. Scenarios that can
hang run in a child interpreter with a timeout, so that a hang is a failure
rather than a stuck test run.

Cases marked "works today" in their docstring or comment guard behaviour that
was already right when the defects were filed; all others fail on that code.
"""

import builtins
import io
import json
import os
import re
import signal
import subprocess
import sys
import textwrap
import warnings

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from scipy.special import logsumexp
from sklearn.datasets import make_classification
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV

from softmax_sk import SoftmaxRegressionClassifier


# -- helpers ---------------------------------------------------------------------------------
def _run_child(code, timeout, env=None):
    """Run ``code`` in a fresh interpreter (own process group); fail the test on a hang.

    Returns the child's stdout. On a timeout the whole process group is killed,
    forked grandchildren included, so nothing is left behind.
    """
    child_env = dict(os.environ)
    child_env.update(env or {})
    proc = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(code)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=child_env,
        start_new_session=True,
    )
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        pytest.fail(f"the child process hung (killed after {timeout} s); stderr:\n{err[-3000:]}")
    assert proc.returncode == 0, f"child exited with {proc.returncode}; stderr:\n{err[-3000:]}"
    return out


def _last_json(out):
    return json.loads(out.strip().splitlines()[-1])


def _problem(n_classes, n_samples=300, n_features=5, seed=0, weights=None):
    X, y = make_classification(
        n_samples=n_samples,
        n_features=n_features,
        n_informative=3,
        n_redundant=0,
        n_classes=n_classes,
        n_clusters_per_class=1,
        weights=weights,
        flip_y=0.1,
        random_state=seed,
    )
    return X, y


def _objective(coef, intercept, X, y_idx, C):
    """scikit-learn's L2 objective ``C * sum CE + ||W||^2 / 2`` in float64."""
    coef = np.asarray(coef, dtype=np.float64)
    z = np.asarray(X, dtype=np.float64) @ coef.T + np.asarray(intercept, dtype=np.float64)
    if z.shape[1] == 1:
        z = np.column_stack([np.zeros(z.shape[0]), z])
    ce = logsumexp(z, axis=1) - z[np.arange(len(y_idx)), y_idx]
    return C * float(ce.sum()) + 0.5 * float(np.sum(coef**2))


# Data on which a fit runs on several threads with n_jobs=2: 40 classes make a
# row block a few hundred rows, so a couple of thousand rows are several blocks.
_THREADED_DATA = """
import numpy as np
def threaded_data(seed, n=2000):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, 10)), rng.integers(0, 40, n)
"""


# -- 1. fork after a threaded fit ------------------------------------------------------------
_FORK_POOL = """
import multiprocessing as mp
import warnings
from softmax_sk import SoftmaxRegressionClassifier
warnings.simplefilter("ignore")

def child_fit(seed):
    X, y = threaded_data(seed)
    return SoftmaxRegressionClassifier(n_jobs=2, max_iter=5).fit(X, y).score(X, y)

if __name__ == "__main__":
    X, y = threaded_data(0)
    SoftmaxRegressionClassifier(n_jobs=2, max_iter=5).fit(X, y)
    with mp.get_context("fork").Pool(2) as pool:
        scores = pool.map_async(child_fit, [1, 2]).get(timeout=30)
    print(len(scores))
"""

_FORK_GRIDSEARCH = """
import multiprocessing as mp
import warnings
import joblib
from sklearn.model_selection import GridSearchCV
from softmax_sk import SoftmaxRegressionClassifier
warnings.simplefilter("ignore")

if __name__ == "__main__":
    mp.set_start_method("fork", force=True)
    X, y = threaded_data(0, n=3000)
    SoftmaxRegressionClassifier(n_jobs=2, max_iter=5).fit(X, y)
    search = GridSearchCV(
        SoftmaxRegressionClassifier(n_jobs=2, max_iter=5), {"C": [0.1, 1.0]}, cv=2, n_jobs=2
    )
    with joblib.parallel_backend("multiprocessing", n_jobs=2):
        search.fit(X, y)
    print(search.best_params_)
"""


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs the fork start method")
@pytest.mark.parametrize("scenario", ["pool", "gridsearch"])
def test_fit_in_forked_child_after_threaded_fit_does_not_hang(scenario):
    """A fit in a fork-started child must not wait forever on the parent's thread pool."""
    code = _THREADED_DATA + (_FORK_POOL if scenario == "pool" else _FORK_GRIDSEARCH)
    _run_child(code, timeout=45)


# -- 2. concurrent fits and BLAS's thread count ----------------------------------------------
_BLAS_CONCURRENT = """
import json, threading, warnings
from concurrent.futures import ThreadPoolExecutor
import threadpoolctl
from softmax_sk import SoftmaxRegressionClassifier
warnings.simplefilter("ignore")

def blas_threads():
    return [i["num_threads"] for i in threadpoolctl.threadpool_info() if i["user_api"] == "blas"]

X, y = threaded_data(0, n=1200)
def fit(i):
    SoftmaxRegressionClassifier(n_jobs=2, max_iter=3 + i % 3).fit(X, y)

before = blas_threads()
after = []
for rep in range(4):
    if SCENARIO == "executor":
        with ThreadPoolExecutor(4) as ex:
            list(ex.map(fit, range(8)))
    else:  # a fresh thread per fit, started while the others run
        threads = [threading.Thread(target=fit, args=(i,)) for i in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    after.append(blas_threads())
print(json.dumps({"before": before, "after": after}))
"""


@pytest.mark.parametrize("scenario", ["executor", "threads"])
def test_concurrent_threaded_fits_restore_blas_threads(scenario):
    """Fits running at once in several threads must leave BLAS's thread count as it was."""
    code = _THREADED_DATA + f"SCENARIO = {scenario!r}\n" + _BLAS_CONCURRENT
    env = {"OPENBLAS_NUM_THREADS": "2", "MKL_NUM_THREADS": "2", "OMP_NUM_THREADS": "2"}
    result = _last_json(_run_child(code, timeout=120, env=env))
    if not result["before"] or max(result["before"]) < 2:
        pytest.skip(f"no BLAS with several threads to observe: {result['before']}")
    for after in result["after"]:
        assert after == result["before"], result


# -- 3. predictions when logits overflow -----------------------------------------------------
def _overflow_case(n_classes, dtype, big):
    """A fitted model, rows of finite X whose logits overflow, and the growth direction."""
    X, y = _problem(n_classes, n_features=4)
    X = (X * 0.05).astype(dtype)  # small features: coefficients of magnitude ~10
    clf = SoftmaxRegressionClassifier(C=100.0, max_iter=500).fit(X, y)
    coef = clf.coef_.astype(np.float64)
    # Two features with large weights of opposite signs in one coefficient row:
    # big * w_a = +inf and big * w_b = -inf, so X @ coef_.T meets inf - inf.
    j = int(np.argmax(np.minimum(coef.max(axis=1), -coef.min(axis=1))))
    a, b = int(np.argmax(coef[j])), int(np.argmin(coef[j]))
    limit = np.finfo(dtype).max / big
    assert coef[j, a] > limit and coef[j, b] < -limit  # the precondition of that row
    inf_minus_inf = np.zeros(4)
    inf_minus_inf[[a, b]] = big
    rows = np.array(
        [
            [big] * 4,
            [-big] * 4,
            [big, 0, 0, 0],
            [0, -big, 0, 0],
            [big, -big, big, -big],
            [big, big / 2, -big, 0],
            inf_minus_inf,
        ],
        dtype=dtype,
    )
    with np.errstate(all="ignore"):  # the reference only
        direction = (rows.astype(np.float64) / big) @ coef.T
    if n_classes == 2:
        direction = np.column_stack([np.zeros(len(rows)), direction])
    return clf, rows, direction


_OVERFLOW_CASES = [(np.float64, 1e308), (np.float32, 3e38)]


@pytest.mark.parametrize("sparse_input", [False, True], ids=["dense", "csr"])
@pytest.mark.parametrize("dtype, big", _OVERFLOW_CASES)
@pytest.mark.parametrize("n_classes", [2, 3])
def test_predictions_finite_when_logits_overflow(n_classes, dtype, big, sparse_input):
    """Finite X must give finite, normalised probabilities and a consistent predict.

    For rows whose logits overflow, the probabilities are one-hot (to rounding) on
    the class whose logit grows fastest along the row: argmax of the logits
    computed for ``x / max|x|`` without the intercept. (RuntimeWarnings are
    ignored here; the next test asks for none.)
    """
    clf, rows, direction = _overflow_case(n_classes, dtype, big)
    R = sp.csr_matrix(rows) if sparse_input else rows
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        decision = clf.decision_function(R)
        proba = clf.predict_proba(R)
        log_proba = clf.predict_log_proba(R)
        pred = clf.predict(R)

    assert not np.isnan(decision).any(), decision
    assert np.all(np.isfinite(proba)), proba
    assert np.all((proba >= 0) & (proba <= 1)), proba
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-5)
    assert not np.isnan(log_proba).any(), log_proba
    np.testing.assert_array_equal(pred, clf.classes_[np.argmax(proba, axis=1)])
    top2 = np.sort(direction, axis=1)[:, -2:]
    clear = top2[:, 1] - top2[:, 0] > 1e-3 * np.maximum(1.0, np.abs(top2[:, 1]))
    assert clear.sum() >= 5
    winner = np.argmax(direction, axis=1)
    np.testing.assert_array_equal(pred[clear], clf.classes_[winner[clear]])
    assert np.all(proba[clear, winner[clear]] > 0.99), proba
    np.testing.assert_allclose(log_proba[clear, winner[clear]], 0.0, atol=1e-2)


@pytest.mark.parametrize("dtype, big", _OVERFLOW_CASES)
@pytest.mark.parametrize("n_classes", [2, 3])
def test_predictions_on_huge_finite_values_emit_no_runtime_warning(n_classes, dtype, big):
    """Valid input, no RuntimeWarning (pytest turns them into errors).

    Note: scikit-learn's finiteness check in validate_data sums X, and a sum of
    +-1e308 is inf - inf ("invalid value encountered in reduce"), so the
    validation needs an np.errstate too, not only the logits.
    """
    clf, rows, _ = _overflow_case(n_classes, dtype, big)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        for method in ("decision_function", "predict_proba", "predict_log_proba", "predict"):
            getattr(clf, method)(rows)


# -- 4. one class of strings or objects ------------------------------------------------------
@pytest.mark.parametrize(
    "make_y",
    [
        pytest.param(lambda n: np.array(["spam"] * n), id="numpy-str-works-today"),
        pytest.param(lambda n: np.array(["spam"] * n, dtype=object), id="numpy-object"),
        pytest.param(lambda n: pd.Series(["spam"] * n), id="pandas-object"),
        pytest.param(lambda n: pd.Series(["spam"] * n, dtype="string"), id="pandas-string"),
        pytest.param(lambda n: pd.Series(["spam"] * n, dtype="category"), id="pandas-category"),
    ],
)
def test_single_class_of_strings_or_objects_raises_value_error(make_y):
    X = np.random.default_rng(0).standard_normal((12, 3))
    y = make_y(12)
    with pytest.raises(ValueError, match="only one class") as info:
        SoftmaxRegressionClassifier().fit(X, y)
    assert "spam" in str(info.value)


# -- 5. float32 features above ~2e19 ---------------------------------------------------------
@pytest.mark.parametrize("sparse_input", [False, True], ids=["dense", "csr-works-today"])
@pytest.mark.parametrize("n_classes", [2, 3])
def test_float32_huge_feature_is_not_ignored(n_classes, sparse_input):
    """Only a feature scaled by 1e20 (valid float32) is informative: float32 must learn it."""
    rng = np.random.default_rng(0)
    n = 400
    t = rng.standard_normal(n)
    noisy = t + 0.2 * rng.standard_normal(n)
    thresholds = [0.0] if n_classes == 2 else [-0.5, 0.5]
    y = np.digitize(noisy, thresholds)
    X = np.column_stack([rng.standard_normal(n), t * 1e20, rng.standard_normal(n)])
    rule_accuracy = np.mean(np.digitize(t, thresholds) == y)  # the best threshold rule

    def fit(dtype):
        Xd = X.astype(dtype)
        Xd = sp.csr_matrix(Xd) if sparse_input else Xd
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            clf = SoftmaxRegressionClassifier(max_iter=1000).fit(Xd, y)
        return clf.predict(Xd), clf.score(Xd, y)

    pred32, acc32 = fit(np.float32)
    pred64, acc64 = fit(np.float64)
    assert acc32 >= rule_accuracy - 0.03, (acc32, rule_accuracy)
    assert acc32 >= acc64 - 0.02, (acc32, acc64)
    assert np.mean(pred32 == pred64) >= 0.95
    if n_classes == 2:  # scikit-learn handles this scale with two classes (not with three)
        ref = LogisticRegression(tol=1e-10, max_iter=1000).fit(X, y)
        assert np.mean(pred32 == ref.predict(X)) >= 0.95


# -- 6. a failed refit leaves the fitted model untouched -------------------------------------
class _InterruptingStream(io.StringIO):
    def write(self, s):
        raise KeyboardInterrupt


def _interrupt(*args, **kwargs):
    raise KeyboardInterrupt


def _fitted_state(clf):
    return {
        k: np.array(v, copy=True) if isinstance(v, np.ndarray) else v
        for k, v in vars(clf).items()
        if k.endswith("_") and not k.startswith("_")
    }


def _assert_same_state(before, after):
    assert sorted(before) == sorted(after)
    for key, value in before.items():
        if isinstance(value, np.ndarray):
            np.testing.assert_array_equal(after[key], value, err_msg=key)
            assert after[key].dtype == value.dtype, key
        else:
            assert after[key] == value, key


_FAILURES = [
    "negative-weights",
    "nan-weights",
    "one-class",
    "unknown-class_weight",  # works today: the parameter check comes before the data
    "weights-shape",
    "y-length",  # works today for arrays (not for DataFrames)
    "keyboard-interrupt",
]


def _failing_refit(clf, kind, X2, y, monkeypatch):
    n = X2.shape[0]
    if kind == "negative-weights":
        clf.fit(X2, y, sample_weight=-np.ones(n))
    elif kind == "nan-weights":
        clf.fit(X2, y, sample_weight=np.full(n, np.nan))
    elif kind == "one-class":
        clf.fit(X2, np.zeros(n, dtype=int))
    elif kind == "unknown-class_weight":
        clf.set_params(class_weight="not-a-mode").fit(X2, y)
    elif kind == "weights-shape":
        clf.fit(X2, y, sample_weight=np.ones(3))
    elif kind == "y-length":
        clf.fit(X2, y[:10])
    elif kind == "keyboard-interrupt":
        # The solver's progress line is the first output: interrupt it mid-fit.
        monkeypatch.setattr(sys, "stdout", _InterruptingStream())
        monkeypatch.setattr(builtins, "print", _interrupt)
        try:
            clf.set_params(verbose=1).fit(X2, y)
        finally:
            monkeypatch.undo()


def _refit_data(first_as_frame, n_features, rename):
    rng = np.random.default_rng(0)
    X, y = _problem(3, n_samples=120, n_features=4)
    X2 = rng.standard_normal((120, n_features))
    if first_as_frame:
        X = pd.DataFrame(X, columns=[f"f{j}" for j in range(4)])
        prefix = "g" if rename else "f"
        X2 = pd.DataFrame(X2, columns=[f"{prefix}{j}" for j in range(n_features)])
    return X, y, X2


def _check_failed_refit(kind, X, y, X2, monkeypatch):
    clf = SoftmaxRegressionClassifier().fit(X, y)
    before, pred, proba = _fitted_state(clf), clf.predict(X), clf.predict_proba(X)
    expected = KeyboardInterrupt if kind == "keyboard-interrupt" else (ValueError, TypeError)
    with pytest.raises(expected):
        _failing_refit(clf, kind, X2, y, monkeypatch)
    _assert_same_state(before, _fitted_state(clf))
    # It still predicts on the old number of features, and predicts the same.
    np.testing.assert_array_equal(clf.predict(X), pred)
    np.testing.assert_array_equal(clf.predict_proba(X), proba)


@pytest.mark.parametrize("first_as_frame", [False, True], ids=["array", "dataframe"])
@pytest.mark.parametrize("kind", _FAILURES)
def test_failed_refit_on_other_features_leaves_model_unchanged(kind, first_as_frame, monkeypatch):
    """A refit on data with another number of features that fails changes nothing."""
    X, y, X2 = _refit_data(first_as_frame, n_features=5, rename=True)
    _check_failed_refit(kind, X, y, X2, monkeypatch)


@pytest.mark.parametrize(
    "first_as_frame", [False, True], ids=["array-works-today", "dataframe-renamed"]
)
@pytest.mark.parametrize("kind", ["one-class", "keyboard-interrupt"])
def test_failed_refit_on_same_feature_count_leaves_model_unchanged(
    kind, first_as_frame, monkeypatch
):
    """Same number of features (renamed columns for a DataFrame): nothing changes either."""
    X, y, X2 = _refit_data(first_as_frame, n_features=4, rename=True)
    _check_failed_refit(kind, X, y, X2, monkeypatch)


# -- 7. n_jobs bounded, thread pools released ------------------------------------------------
_THREAD_COUNT = """
import json, os, threading, warnings
from softmax_sk import SoftmaxRegressionClassifier
warnings.simplefilter("ignore")
X, y = threaded_data(0, n=15000)
before = threading.active_count()
counts = []
for n_jobs in (2, 3, 10**6, -1, None, 10**6):
    SoftmaxRegressionClassifier(n_jobs=n_jobs, max_iter=2).fit(X, y)
    counts.append(threading.active_count())
cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
print(json.dumps({"before": before, "counts": counts, "cpus": cpus}))
"""


def test_threads_bounded_by_cpus_after_fits_with_large_n_jobs():
    """n_jobs beyond the CPUs must not create that many threads, nor leave pools behind."""
    result = _last_json(_run_child(_THREADED_DATA + _THREAD_COUNT, timeout=120))
    bound = result["before"] + result["cpus"] + 2
    assert max(result["counts"]) <= bound, result


def test_negative_n_jobs_below_minus_one_is_accepted():
    """joblib's convention: n_jobs=-2 is all CPUs but one (at least one thread)."""
    X, y = _problem(3)
    ref = SoftmaxRegressionClassifier(n_jobs=1, tol=1e-8).fit(X, y)
    clf = SoftmaxRegressionClassifier(n_jobs=-2, tol=1e-8).fit(X, y)
    np.testing.assert_allclose(clf.coef_, ref.coef_, rtol=1e-6, atol=1e-9)


# -- 8. sample weights or C at the edge of float64 -------------------------------------------
def _fit_quiet(X, y, sample_weight=None, **params):
    """A tight fit; ConvergenceWarning is an error (float32: tol=1e-10 is out of reach)."""
    float64 = np.asarray(X).dtype == np.float64
    with warnings.catch_warnings():
        warnings.simplefilter("error" if float64 else "ignore", ConvergenceWarning)
        return SoftmaxRegressionClassifier(
            tol=1e-10 if float64 else 1e-6, max_iter=1000, **params
        ).fit(X, y, sample_weight=sample_weight)


def _assert_same_model(clf, ref, X, rtol):
    np.testing.assert_allclose(clf.coef_, ref.coef_, rtol=rtol, atol=rtol)
    # Multinomial intercepts are defined up to a common constant: compare centred.
    centred = clf.intercept_ - clf.intercept_.mean() * (clf.intercept_.size > 1)
    ref_centred = ref.intercept_ - ref.intercept_.mean() * (ref.intercept_.size > 1)
    np.testing.assert_allclose(centred, ref_centred, rtol=rtol, atol=rtol)
    np.testing.assert_allclose(clf.predict_proba(X), ref.predict_proba(X), atol=rtol)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("n_classes", [2, 3])
def test_sample_weights_whose_sum_overflows_are_rescaled(n_classes, dtype):
    """C * sum s_i CE_i + pen is unchanged by s -> a s, C -> C / a: the same model."""
    X, y = _problem(n_classes)
    X = X.astype(dtype)
    ref = _fit_quiet(X, y, C=10.0)
    clf = _fit_quiet(X, y, sample_weight=np.full(len(y), 1e308), C=10.0 / 1e308)
    rtol = 1e-6 if dtype == np.float64 else 1e-3
    _assert_same_model(clf, ref, X, rtol)
    if dtype == np.float64:  # and the reference itself is scikit-learn's model
        sk = LogisticRegression(C=10.0, tol=1e-10, max_iter=1000).fit(X, y)
        np.testing.assert_allclose(ref.predict_proba(X), sk.predict_proba(X), atol=1e-5)


@pytest.mark.parametrize("n_classes", [2, 3])
def test_large_weights_and_tiny_C_equal_unit_weights(n_classes):
    """Works today: weights 1e300 (finite sum) with C=1e-300 give the C=1 model."""
    X, y = _problem(n_classes)
    ref = _fit_quiet(X, y, C=1.0)
    clf = _fit_quiet(X, y, sample_weight=np.full(len(y), 1e300), C=1e-300)
    _assert_same_model(clf, ref, X, 1e-6)


_UNREPRESENTABLE = r"(?i)overflow|represent|range|too (small|large)|exceed"


def test_unrepresentable_penalty_scale_is_rejected():
    """1 / (C * sum(s)) beyond float64's range: a ValueError that says so, not a null model."""
    X, y = _problem(3, weights=[0.6, 0.3, 0.1])
    with pytest.raises(ValueError, match=_UNREPRESENTABLE):
        SoftmaxRegressionClassifier(C=5e-324).fit(X, y, sample_weight=np.full(len(y), 1e-10))


@pytest.mark.parametrize("n_classes", [pytest.param(2, id="2-works-today"), 3])
def test_tiny_C_gives_the_prior_model_or_a_clear_error(n_classes):
    """C=1e-310, unit weights: the optimum is W ~ 0 and the class priors as probabilities.

    1 / (C * sum(s)) is ~3e307 here, still finite, so the model can be fitted; a
    ValueError saying the scale is out of range is accepted too. A model far
    from the priors, a ConvergenceWarning or a RuntimeWarning is not.
    """
    weights = [0.7, 0.3] if n_classes == 2 else [0.6, 0.3, 0.1]
    X, y = _problem(n_classes, weights=weights)
    try:
        clf = _fit_quiet(X, y, C=1e-310)
    except ValueError as exc:
        assert re.search(_UNREPRESENTABLE, str(exc)), exc
        return
    priors = np.bincount(y) / len(y)
    assert np.all(np.abs(clf.coef_) < 1e-200), clf.coef_
    np.testing.assert_allclose(clf.predict_proba(X), np.tile(priors, (len(y), 1)), atol=1e-6)


# -- 9. class_weight naming a class absent from y --------------------------------------------
@pytest.mark.parametrize("labels", ["int", "str"])
def test_class_weight_with_absent_class_is_accepted(labels):
    """scikit-learn ignores class_weight keys that are not in y: the same model without them."""
    X, y = _problem(3)
    names = np.array([0, 1, 2]) if labels == "int" else np.array(["a", "b", "c"])
    y = names[y]
    weights = dict(zip(names.tolist(), [1.0, 2.0, 0.5], strict=True))
    absent = 99 if labels == "int" else "zzz"
    ref = SoftmaxRegressionClassifier(class_weight=weights, tol=1e-10).fit(X, y)
    clf = SoftmaxRegressionClassifier(class_weight={**weights, absent: 3.0}, tol=1e-10).fit(X, y)
    np.testing.assert_allclose(clf.coef_, ref.coef_, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(clf.intercept_, ref.intercept_, rtol=1e-10, atol=1e-12)
    sk = LogisticRegression(class_weight={**weights, absent: 3.0}, tol=1e-10).fit(X, y)
    np.testing.assert_allclose(clf.predict_proba(X), sk.predict_proba(X), atol=1e-5)


def test_grid_search_with_class_weight_of_a_rare_class():
    """A rare class missing from some folds' training part, weighted in class_weight."""
    X, y = _problem(3, n_samples=150)
    y = y.copy()
    y[[5, 100]] = 3  # a rare class
    train_without = np.setdiff1d(np.arange(150), [5, 100, *range(50)])
    folds = [
        (train_without, np.arange(50)),  # the rare class only in the test part
        (np.arange(50, 150), np.arange(50)),
        (np.arange(100), np.arange(100, 150)),
    ]
    search = GridSearchCV(
        SoftmaxRegressionClassifier(class_weight={0: 1.0, 1: 1.0, 2: 1.0, 3: 5.0}),
        {"C": [0.1, 1.0]},
        cv=folds,
        error_score="raise",
    )
    search.fit(X, y)
    assert np.all(np.isfinite(search.cv_results_["mean_test_score"]))
    assert search.best_estimator_.classes_.tolist() == [0, 1, 2, 3]


# -- 10. float32 with a few hundred classes reaches the optimum ------------------------------
def _teacher_problem(n, d, n_classes, seed=0):
    """Labels drawn from a random softmax model (no class separable)."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    W = rng.normal(size=(d, n_classes)) / np.sqrt(d) * 3
    z = X @ W
    p = np.exp(z - logsumexp(z, axis=1, keepdims=True))
    y = np.minimum((p.cumsum(axis=1) < rng.random((n, 1))).sum(axis=1), n_classes - 1)
    return X, y


def test_float32_many_classes_reaches_the_optimum():
    """float32 must not stop ~1e-5 above the optimum when tol asks for more.

    Without an intercept ``f(W) = C sum CE + ||W||^2 / 2`` is 1-strongly convex,
    so ``f* >= f(W) - ||grad f(W)||^2 / 2``: a float64 fit together with its
    gradient, computed here independently, certifies the optimum.
    """
    X, y = _teacher_problem(2000, 30, 300)
    C = 300.0
    y_idx = np.searchsorted(np.unique(y), y)
    ref = SoftmaxRegressionClassifier(C=C, fit_intercept=False, tol=1e-10, max_iter=5000)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ref.fit(X, y)
    W = ref.coef_.astype(np.float64)
    z = X @ W.T
    P = np.exp(z - logsumexp(z, axis=1, keepdims=True))
    P[np.arange(len(y)), y_idx] -= 1.0
    grad = C * (P.T @ X) + W
    f_ref = _objective(W, np.zeros(W.shape[0]), X, y_idx, C)
    f_star = f_ref - 0.5 * float(np.sum(grad**2))  # a lower bound on the optimum
    assert (f_ref - f_star) / f_star < 1e-7  # the certificate is tight

    clf = SoftmaxRegressionClassifier(C=C, fit_intercept=False, tol=1e-8, max_iter=5000)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(X.astype(np.float32), y)
    f32 = _objective(clf.coef_, np.zeros(W.shape[0]), X, y_idx, C)
    assert (f32 - f_star) / f_star <= 3e-6, ((f32 - f_star) / f_star, clf.n_iter_)


# -- 11. parameter errors and warm starts ----------------------------------------------------
_BAD_PARAMS = [
    ("C", "1"),
    ("C", -1.0),
    ("C", 0.0),
    ("C", np.nan),
    ("l1_ratio", 2.0),
    ("l1_ratio", "a"),
    ("tol", -1.0),
    ("tol", "a"),
    ("max_iter", 1.5),
    ("max_iter", -1),
    ("solver", "x"),
    ("class_weight", "x"),
    ("class_weight", 3),
    ("fit_intercept", "yes"),
    ("warm_start", 1.0),
    ("n_jobs", 0),
    ("n_jobs", "2"),
    ("n_jobs", 1.5),
    ("verbose", -1),
    ("verbose", 1.5),
    ("random_state", "x"),
]


@pytest.mark.parametrize("name, value", _BAD_PARAMS, ids=[f"{n}={v!r}" for n, v in _BAD_PARAMS])
def test_bad_parameter_raises_value_and_type_error(name, value):
    """Like scikit-learn's InvalidParameterError: one error type that is both."""
    X, y = _problem(3, n_samples=60)
    with pytest.raises((ValueError, TypeError)) as info:
        SoftmaxRegressionClassifier(**{name: value}).fit(X, y)
    assert isinstance(info.value, ValueError), type(info.value).__mro__
    assert isinstance(info.value, TypeError), type(info.value).__mro__


def _warm_start_warnings(X, y, X2, y2):
    clf = SoftmaxRegressionClassifier(warm_start=True).fit(X, y)
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        clf.fit(X2, y2)
    return [
        str(w.message)
        for w in record
        if issubclass(w.category, UserWarning) and not issubclass(w.category, ConvergenceWarning)
    ]


@pytest.mark.parametrize("change, why", [("classes", "class"), ("features", "feature")])
def test_warm_start_that_cannot_apply_warns(change, why):
    """warm_start=True with other classes or features starts from zero: it must say so."""
    X, y = _problem(3, n_samples=120)
    if change == "classes":
        X2, y2 = X, np.where(y == 2, 5, y)
    else:
        X2, y2 = np.column_stack([X, X[:, 0]]), y
    messages = _warm_start_warnings(X, y, X2, y2)
    assert any("warm" in m.lower() and why in m.lower() for m in messages), messages


def test_warm_start_that_applies_does_not_warn():
    """Works today: same classes and features, no warning about the warm start."""
    X, y = _problem(3, n_samples=120)
    assert _warm_start_warnings(X, y, X + 0.01, y) == []


@pytest.mark.parametrize("solver", ["auto", "lbfgs", "sgd"])
def test_a_feature_near_1e308_warns_once_and_says_what_to_do(solver):
    """One entry of 1e308 overflowed the solvers' sums: about 80 RuntimeWarnings came
    before the ConvergenceWarning that says to scale the features. The fit itself
    handles it (finite probabilities)."""
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(60, 3)), rng.integers(0, 3, 60)
    X[0, 0] = 1e308
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        clf = SoftmaxRegressionClassifier(solver=solver, random_state=0).fit(X, y)
    assert not [w for w in caught if issubclass(w.category, RuntimeWarning)]
    assert all("scale the features" in str(w.message) for w in caught)
    assert np.all(np.isfinite(clf.predict_proba(X[1:])))
