"""Saving and loading fitted models: skops (with ``TRUSTED_TYPES``) and pickle.

The types a skops file needs trusted are skops' own listing
(``skops.io.get_untrusted_types``), not ours: ``TRUSTED_TYPES`` must cover it
for every kind of fitted model and hold nothing that none of them needs.
"""

import pickle

import numpy as np
import pytest
import scipy.sparse as sp
from conftest import make_problem

from softmax_sk import TRUSTED_TYPES, SoftmaxRegressionClassifier, SoftmaxRegressionCV


def _fitted(kind):
    """A fitted model of one kind (see ``KINDS``)."""
    X, y = make_problem(4, n_samples=120, n_features=8)
    params = {}
    if kind == "binary":
        X, y = make_problem(2, n_samples=120, n_features=8)
    elif kind == "float32":
        X = X.astype(np.float32)
    elif kind == "sparse_fit":
        X = sp.csr_matrix(np.where(np.abs(X) > 0.5, X, 0.0))
    elif kind == "no_intercept":
        params = {"fit_intercept": False}
    elif kind == "strings_pandas":
        pd = pytest.importorskip("pandas")
        X = pd.DataFrame(X, columns=[f"feature {j}" for j in range(X.shape[1])])
        y = np.array(["ant", "bee", "cat", "dog"], dtype=object)[y]
    elif kind == "class_weight":
        params = {"class_weight": {0: 2.0, np.int64(3): 0.5}, "C": np.float64(0.5)}
    elif kind == "balanced_unpenalised":
        params = {"class_weight": "balanced", "C": np.inf}
    elif kind == "sparsified":
        params = {"C": 0.05, "l1_ratio": 1.0}
    elif kind == "sgd":
        params = {"solver": "sgd", "random_state": 0}
    elif kind == "stream":  # partial_fit: curvature pairs and the kept preconditioner
        clf = SoftmaxRegressionClassifier(random_state=0)
        for chunk in np.array_split(np.arange(len(y)), 4):
            clf.partial_fit(X[chunk], y[chunk], classes=np.unique(y))
        assert clf.optimizer_state_.pairs
        return clf, X
    elif kind == "cv":  # SoftmaxRegressionCV, whose type TRUSTED_TYPES missed
        return SoftmaxRegressionCV(Cs=3, cv=3).fit(X, y), X
    clf = SoftmaxRegressionClassifier(max_iter=300, **params).fit(X, y)
    if kind == "sparsified":
        clf.sparsify()
        assert sp.issparse(clf.coef_)
    return clf, X


KINDS = [
    "binary",
    "multiclass",
    "float32",
    "sparse_fit",
    "no_intercept",
    "strings_pandas",
    "class_weight",
    "balanced_unpenalised",
    "sparsified",
    "sgd",
    "stream",
    "cv",
]


def assert_identical(a, b, where="model"):
    """``a`` and ``b`` are equal in type, dtype, shape and every value (NaN equal to NaN)."""
    assert type(a) is type(b), f"{where}: {type(a)} != {type(b)}"
    if isinstance(a, np.ndarray):
        assert a.dtype == b.dtype and a.shape == b.shape, where
        if a.dtype.kind in "fc":
            assert np.array_equal(a, b, equal_nan=True), where
        else:
            assert a.tolist() == b.tolist(), where
    elif sp.issparse(a):
        assert a.format == b.format and a.dtype == b.dtype and a.shape == b.shape, where
        for name in ("data", "indices", "indptr"):
            assert_identical(getattr(a, name), getattr(b, name), f"{where}.{name}")
    elif isinstance(a, dict):
        assert list(a) == list(b), where
        for key in a:
            assert_identical(a[key], b[key], f"{where}[{key!r}]")
    elif isinstance(a, tuple):  # the optimizer's state and its curvature pairs
        assert len(a) == len(b), where
        for i, (x, z) in enumerate(zip(a, b, strict=True)):
            assert_identical(x, z, f"{where}[{i}]")
    elif isinstance(a, float) and np.isnan(a):
        assert np.isnan(b), where
    else:
        assert a == b, f"{where}: {a!r} != {b!r}"


def assert_same_model(clf, loaded, X):
    """Every attribute (parameters, fitted, private) and every prediction identical."""
    assert_identical(vars(clf), vars(loaded))
    for method in ("predict", "predict_proba", "predict_log_proba", "decision_function"):
        assert_identical(getattr(clf, method)(X), getattr(loaded, method)(X), method)


@pytest.fixture(scope="module")
def models():
    return {kind: _fitted(kind) for kind in KINDS}


@pytest.fixture(scope="module")
def skops_files(models, tmp_path_factory):
    sio = pytest.importorskip("skops.io")
    folder = tmp_path_factory.mktemp("skops")
    files = {}
    for kind, (clf, _) in models.items():
        files[kind] = folder / f"{kind}.skops"
        sio.dump(clf, files[kind])
    return files


@pytest.mark.parametrize("kind", KINDS)
def test_skops_round_trip_exact(kind, models, skops_files):
    sio = pytest.importorskip("skops.io")
    clf, X = models[kind]
    loaded = sio.load(skops_files[kind], trusted=TRUSTED_TYPES)
    assert_same_model(clf, loaded, X)


def test_trusted_types_complete_and_minimal(skops_files):
    """skops' listing of what each file needs is within TRUSTED_TYPES, and their
    union is all of it: a type no file needs would be trusted for nothing."""
    sio = pytest.importorskip("skops.io")
    needed = {kind: set(sio.get_untrusted_types(file=path)) for kind, path in skops_files.items()}
    for kind, types in needed.items():
        assert types <= set(TRUSTED_TYPES), f"{kind} needs {sorted(types - set(TRUSTED_TYPES))}"
    assert set().union(*needed.values()) == set(TRUSTED_TYPES)
    assert len(set(TRUSTED_TYPES)) == len(TRUSTED_TYPES)


def test_skops_refuses_without_trust(skops_files):
    """Without TRUSTED_TYPES skops refuses to load: the list is what makes it load."""
    sio = pytest.importorskip("skops.io")
    from skops.io.exceptions import UntrustedTypesFoundException

    with pytest.raises(UntrustedTypesFoundException):
        sio.load(skops_files["multiclass"])


@pytest.mark.parametrize("kind", ["binary", "float32", "strings_pandas", "sparsified"])
def test_pickle_round_trip_exact(kind, models):
    clf, X = models[kind]
    assert_same_model(clf, pickle.loads(pickle.dumps(clf)), X)


def test_loaded_model_refits_with_warm_start(models, skops_files):
    """A loaded model is a working estimator: a warm-started fit from it stays put."""
    sio = pytest.importorskip("skops.io")
    clf, _ = models["multiclass"]
    X, y = make_problem(4, n_samples=120, n_features=8)
    loaded = sio.load(skops_files["multiclass"], trusted=TRUSTED_TYPES)
    loaded.set_params(warm_start=True, tol=1e-8).fit(X, y)
    np.testing.assert_allclose(loaded.coef_, clf.coef_, atol=1e-3)
