"""``sparsify()`` / ``densify()``, against scikit-learn's ``LogisticRegression``'s."""

import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from conftest import make_problem
from sklearn.exceptions import ConvergenceWarning, NotFittedError
from sklearn.linear_model import LogisticRegression

from softmax_sk import SoftmaxRegressionClassifier

METHODS = ("predict", "predict_proba", "predict_log_proba", "decision_function")


def _l1_fit(n_classes, dtype=np.float64, **params):
    X, y = make_problem(n_classes, n_samples=200, n_features=10)
    X = X.astype(dtype)
    clf = SoftmaxRegressionClassifier(C=0.05, l1_ratio=1.0, max_iter=300, **params).fit(X, y)
    assert (clf.coef_ == 0).any()  # sparsify has zeros to drop
    return clf, X, y


@pytest.mark.parametrize("n_classes", [2, 4])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("sparse_X", [False, True])
def test_predictions_unchanged(n_classes, dtype, sparse_X):
    clf, X, _ = _l1_fit(n_classes, dtype)
    dense_coef = clf.coef_.copy()
    expected = {name: getattr(clf, name)(X) for name in METHODS}
    if sparse_X:
        X = sp.csr_matrix(X)
    assert clf.sparsify() is clf
    assert sp.issparse(clf.coef_) and clf.coef_.format == "csr"
    assert clf.coef_.dtype == dense_coef.dtype and clf.coef_.shape == dense_coef.shape
    assert clf.coef_.nnz == np.count_nonzero(dense_coef)
    for name, want in expected.items():
        got = getattr(clf, name)(X)
        assert isinstance(got, np.ndarray), name
        assert got.dtype == want.dtype and got.shape == want.shape, name
        if name == "predict":
            np.testing.assert_array_equal(got, want)
        else:
            rtol = 1e-5 if dtype == np.float32 else 1e-12
            np.testing.assert_allclose(got, want, rtol=rtol, atol=rtol, err_msg=name)
    assert clf.densify() is clf
    assert isinstance(clf.coef_, np.ndarray)
    np.testing.assert_array_equal(clf.coef_, dense_coef)
    assert clf.coef_.dtype == dense_coef.dtype


def test_same_as_logistic_regression():
    """The same types as LogisticRegression's sparsify() and densify() give."""
    ours, X, y = _l1_fit(3)
    theirs = LogisticRegression(max_iter=1000).fit(X, y)
    assert type(ours.sparsify().coef_) is type(theirs.sparsify().coef_)
    assert type(ours.densify().coef_) is type(theirs.densify().coef_)
    ours.densify()  # a no-op on a dense coef_, as theirs
    assert isinstance(ours.coef_, np.ndarray)


def test_overflowing_logits_with_sparse_coef():
    """The overflow path of the logits (a feature of 1e308) works with a sparse coef_."""
    clf, X, _ = _l1_fit(3)
    X = X[:5].copy()
    X[0, np.flatnonzero(clf.coef_.any(axis=0))[0]] = 1e308
    expected = clf.predict_proba(X)
    got = clf.sparsify().predict_proba(X)
    assert np.isfinite(got).all()
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-300)


def test_fit_after_sparsify():
    """fit stores a dense coef_ again, the same as a fit of a fresh model."""
    clf, X, y = _l1_fit(4)
    fresh = clf.coef_.copy()
    clf.sparsify().fit(X, y)
    assert isinstance(clf.coef_, np.ndarray)
    np.testing.assert_array_equal(clf.coef_, fresh)


@pytest.mark.parametrize("n_classes", [2, 4])
def test_warm_start_after_sparsify(n_classes):
    """A warm start from a sparse coef_ starts where the dense one would: one more
    iteration from either lands on the same coefficients."""
    clf, X, y = _l1_fit(n_classes, warm_start=True)
    dense = SoftmaxRegressionClassifier(**clf.get_params()).fit(X, y)
    np.testing.assert_array_equal(dense.coef_, clf.coef_)
    start = clf.coef_.copy()
    more = {"max_iter": 1, "tol": 1e-12}
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a warm start that cannot apply warns
        warnings.simplefilter("ignore", ConvergenceWarning)  # one iteration, on purpose
        dense.set_params(**more).fit(X, y)
        clf.sparsify().set_params(**more).fit(X, y)
    assert not np.array_equal(dense.coef_, start)  # the iteration moved
    assert isinstance(clf.coef_, np.ndarray)
    np.testing.assert_allclose(clf.coef_, dense.coef_, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(clf.intercept_, dense.intercept_, rtol=1e-12, atol=1e-12)


def test_inference_after_sparsify():
    X, y = make_problem(3, n_samples=300, n_features=8, n_redundant=0)
    clf = SoftmaxRegressionClassifier(C=np.inf, tol=1e-10).fit(X, y)
    expected = clf.inference(X, y).params
    np.testing.assert_allclose(clf.sparsify().inference(X, y).params, expected, rtol=1e-10)


@pytest.mark.parametrize("method", ["sparsify", "densify"])
def test_unfitted_raises(method):
    with pytest.raises(NotFittedError, match="must be fitted"):
        getattr(SoftmaxRegressionClassifier(), method)()
