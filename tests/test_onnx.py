"""The ONNX converter: onnxruntime's outputs against ``predict`` and ``predict_proba``."""

import importlib
import sys

import numpy as np
import pytest
import scipy.sparse as sp
from conftest import make_problem
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from softmax_sk import SoftmaxRegressionClassifier

NAMES = np.array(["ant", "bee", "cat", "dog", "eel"], dtype=object)
TOL = {np.float32: 1e-6, np.float64: 1e-12}


@pytest.fixture(scope="module")
def to_onnx():
    pytest.importorskip("onnxruntime")
    skl2onnx = pytest.importorskip("skl2onnx")
    importlib.import_module("softmax_sk.onnx")  # registers the converter
    return skl2onnx.to_onnx


def _run(onx, X):
    """``{output name: value}`` of the model run by onnxruntime on ``X``."""
    import onnxruntime as ort

    session = ort.InferenceSession(onx.SerializeToString(), providers=["CPUExecutionProvider"])
    outputs = session.run(None, {session.get_inputs()[0].name: X})
    return dict(zip([o.name for o in session.get_outputs()], outputs, strict=True))


def _fit(n_classes, dtype, fit_intercept=True, labels="int", **params):
    X, y = make_problem(n_classes, n_samples=300, n_features=8)
    y = NAMES[y] if labels == "str" else 10 * y - 5  # labels that are not class indices
    X = X.astype(dtype)
    clf = SoftmaxRegressionClassifier(fit_intercept=fit_intercept, **params).fit(X, y)
    # New data, with a wider spread (probabilities near 0 and 1 too).
    X_new = 3 * make_problem(n_classes, n_samples=200, n_features=8, seed=1)[0].astype(dtype)
    return clf, X_new


def _check(clf, out, X, dtype, atol=None):
    assert list(out) == ["label", "probabilities"]
    proba = out["probabilities"]
    assert proba.dtype == dtype and proba.shape == (X.shape[0], clf.classes_.size)
    atol = TOL[dtype] if atol is None else atol
    np.testing.assert_allclose(proba, clf.predict_proba(X), rtol=0, atol=atol)
    np.testing.assert_array_equal(out["label"], clf.predict(X))


@pytest.mark.parametrize("n_classes", [2, 4])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("fit_intercept", [True, False])
@pytest.mark.parametrize("labels", ["int", "str"])
def test_outputs_match_predict(to_onnx, n_classes, dtype, fit_intercept, labels):
    clf, X = _fit(n_classes, dtype, fit_intercept, labels)
    onx = to_onnx(clf, X[:1], options={"zipmap": False})
    _check(clf, _run(onx, X), X, dtype)


@pytest.mark.parametrize("fit_intercept", [True, False])
def test_the_graph_is_stamped_an_opset_onnxruntime_supports(to_onnx, fit_intercept):
    """Without an intercept the graph was stamped opset 1: onnxruntime warned that it
    supports opset 7 and above only."""
    clf, X = _fit(3, np.float32, fit_intercept)
    onx = to_onnx(clf, X[:1], options={"zipmap": False})
    assert {d.domain: d.version for d in onx.opset_import}[""] >= 7


def test_zipmap_default(to_onnx):
    """Without options: skl2onnx's usual list of {class: probability} maps."""
    clf, X = _fit(3, np.float32, labels="str")
    out = _run(to_onnx(clf, X[:1]), X)
    assert list(out) == ["output_label", "output_probability"]
    np.testing.assert_array_equal(out["output_label"], clf.predict(X))
    got = np.array([[row[c] for c in clf.classes_] for row in out["output_probability"]])
    np.testing.assert_allclose(got, clf.predict_proba(X), rtol=0, atol=1e-6)


def test_zipmap_columns(to_onnx):
    """skl2onnx's option zipmap="columns": one probability output per class."""
    clf, X = _fit(3, np.float32, labels="str")
    out = _run(to_onnx(clf, X[:1], options={"zipmap": "columns"}), X)
    assert len(out) == 1 + clf.classes_.size
    labels, *columns = out.values()
    np.testing.assert_array_equal(labels, clf.predict(X))
    np.testing.assert_allclose(np.column_stack(columns), clf.predict_proba(X), rtol=0, atol=1e-6)


def test_nocl(to_onnx):
    """skl2onnx's option nocl=True: class indices as labels."""
    clf, X = _fit(3, np.float32, labels="str")
    out = _run(to_onnx(clf, X[:1], options={"zipmap": False, "nocl": True}), X)
    assert out["label"].dtype == np.int64
    np.testing.assert_array_equal(out["label"], np.searchsorted(clf.classes_, clf.predict(X)))
    np.testing.assert_allclose(out["probabilities"], clf.predict_proba(X), rtol=0, atol=1e-6)


def test_in_a_pipeline(to_onnx):
    X, y = make_problem(3, n_samples=300, n_features=8)
    X = 10 * X.astype(np.float32) + 5
    pipe = make_pipeline(StandardScaler(), SoftmaxRegressionClassifier()).fit(X, y)
    out = _run(to_onnx(pipe, X[:1], options={"zipmap": False}), X)
    np.testing.assert_allclose(out["probabilities"], pipe.predict_proba(X), rtol=0, atol=1e-5)
    np.testing.assert_array_equal(out["label"], pipe.predict(X))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_sparsified_and_large_logits(to_onnx, dtype):
    """A sparse coef_ converts; logits whose exp overflows give the same probabilities
    (a max-shifted softmax), up to the rounding of logits that large."""
    clf, X = _fit(4, dtype, C=0.05, l1_ratio=1.0)
    clf.sparsify()
    assert sp.issparse(clf.coef_)
    X = 3000 * X
    z = clf.decision_function(X)
    assert np.isfinite(z).all() and (z.max(axis=1) > np.log(np.finfo(dtype).max)).any()
    atol = 10 * np.finfo(dtype).eps * np.abs(z).max()
    _check(clf, _run(to_onnx(clf, X[:1], options={"zipmap": False}), X), X, dtype, atol)


@pytest.mark.parametrize("kind", [bool, float])
def test_boolean_and_float_labels(to_onnx, kind):
    """Integer-valued labels of other dtypes come out as int64, as in skl2onnx."""
    X, y = make_problem(2, n_samples=300, n_features=8)
    X = X.astype(np.float32)
    clf = SoftmaxRegressionClassifier().fit(X, y.astype(kind))
    out = _run(to_onnx(clf, X[:1], options={"zipmap": False}), X)
    assert out["label"].dtype == np.int64
    np.testing.assert_array_equal(out["label"], clf.predict(X).astype(np.int64))


def test_integer_labels_beyond_int64_are_refused(to_onnx):
    """The label output is int64: uint64 labels from 2**63 wrapped around to negative
    numbers; they are refused, naming the fix. (Float labels that large are not integral
    to scikit-learn: a classifier refuses them as continuous.)"""
    labels = np.array([0, 1], dtype=np.uint64) + np.uint64(2**63)
    X, y = make_problem(2, n_samples=100, n_features=8)
    clf = SoftmaxRegressionClassifier().fit(X.astype(np.float32), labels[y])
    with pytest.raises(NotImplementedError, match=r"int64.*string labels"):
        to_onnx(clf, X[:1].astype(np.float32), options={"zipmap": False})
    largest = SoftmaxRegressionClassifier().fit(X, np.array([0, 2**63 - 1])[y])
    out = _run(to_onnx(largest, X[:1], options={"zipmap": False}), X)
    np.testing.assert_array_equal(out["label"], largest.predict(X))


def test_clear_import_error(monkeypatch):
    """Without skl2onnx, importing softmax_sk.onnx says which extra to install."""
    monkeypatch.setitem(sys.modules, "skl2onnx", None)
    monkeypatch.delitem(sys.modules, "softmax_sk.onnx", raising=False)
    with pytest.raises(ImportError, match=r"pip install softmax-sk\[onnx\]"):
        importlib.import_module("softmax_sk.onnx")
