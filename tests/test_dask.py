"""Fitting and predicting on dask collections, on a real LocalCluster (2 worker processes).

The reference is the same estimator fitted in memory, and the objective is
evaluated by a plain numpy/scipy function written here; the worker processes
inherit this process's environment, so they run the compiled kernels or the
numpy fallback as the test leg does.
"""

import os
import signal
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp
from scipy.special import logsumexp
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV

from softmax_sk import SoftmaxRegressionClassifier

da = pytest.importorskip("dask.array")
dd = pytest.importorskip("dask.dataframe")
distributed = pytest.importorskip("distributed")

from softmax_sk import _dask, _engine_dask  # noqa: E402 (needs dask)
from softmax_sk._layout import Layout  # noqa: E402
from softmax_sk._loss import SoftmaxLoss  # noqa: E402

ROW_CHUNKS = (230, 190, 180)  # uneven, and y comes in other chunks


@pytest.fixture(scope="module")
def client():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # distributed's start-up notices
        cluster = distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
        )
        dask_client = distributed.Client(cluster)
    with dask_client:
        yield dask_client
    cluster.close()


def make_data(n_classes=3, seed=0, dtype=np.float64):
    rng = np.random.default_rng(seed)
    n, d = sum(ROW_CHUNKS), 5
    X = rng.normal(size=(n, d)).astype(dtype)
    X[rng.random(X.shape) < 0.4] = 0  # zeros, for sparse chunks
    W = rng.normal(size=(d, n_classes))
    y = np.array(["a", "b", "c", "d"][:n_classes])[
        (X @ W + rng.gumbel(size=(n, n_classes))).argmax(axis=1)
    ]
    w = rng.uniform(0, 3, size=n)
    w[::17] = 0
    return X, y, w


def to_dask(X, y, w, sparse):
    dX = da.from_array(X, chunks=(ROW_CHUNKS, -1))
    if sparse:
        dX = dX.map_blocks(sp.csr_matrix)
    return dX, da.from_array(y, chunks=200), da.from_array(w, chunks=300)


def objective(est, X, y, w):
    """scikit-learn's objective of a fitted model, in float64, from scratch."""
    Y = (y[:, None] == est.classes_).astype(float)
    cw = est.class_weight
    if cw == "balanced":
        totals = Y.T @ w
        cw = dict(zip(est.classes_, totals.sum() / (len(totals) * totals), strict=True))
    s = w * (Y @ [1.0 if cw is None else cw.get(c, 1.0) for c in est.classes_])
    W = np.asarray(est.coef_, dtype=float)
    Z = np.asarray(X, dtype=float) @ W.T + est.intercept_
    if W.shape[0] == 1:
        Z = np.column_stack([np.zeros(len(Z)), Z])
    ce = logsumexp(Z, axis=1) - (Z * Y).sum(axis=1)
    r = est.l1_ratio
    return est.C * s @ ce + (1 - r) / 2 * (W**2).sum() + r * np.abs(W).sum()


CASES = [  # (sparse, solver, C, l1_ratio, class_weight)
    (False, "lbfgs", 0.5, 0.0, "balanced"),
    (True, "lbfgs", 0.5, 0.0, {"a": 2.0, "c": 0.5}),
    (False, "owlqn", 0.05, 0.5, {"b": 3.0}),
    (True, "owlqn", 0.05, 0.5, "balanced"),
    (False, "newton-cg", 0.5, 0.0, {"a": 0.5}),
    (True, "newton-cg", 0.5, 0.3, "balanced"),
]


@pytest.mark.parametrize(("sparse", "solver", "C", "l1_ratio", "class_weight"), CASES)
def test_fit_equals_in_memory(client, sparse, solver, C, l1_ratio, class_weight):
    """Sample weights (some 0) and class weights in every case; the L1 cases have zeros."""
    X, y, w = make_data()
    params = dict(solver=solver, C=C, l1_ratio=l1_ratio, class_weight=class_weight, tol=1e-5)
    ref = SoftmaxRegressionClassifier(**params).fit(sp.csr_matrix(X) if sparse else X, y, w)
    est = SoftmaxRegressionClassifier(**params).fit(*to_dask(X, y, w, sparse))
    assert est.solver_ == solver and est.coef_.dtype == np.float64
    np.testing.assert_array_equal(est.classes_, ref.classes_)
    f_ref, f = objective(ref, X, y, w), objective(est, X, y, w)
    assert abs(f - f_ref) <= 1e-10 * abs(f_ref)
    np.testing.assert_allclose(est.coef_, ref.coef_, rtol=0, atol=1e-6)
    np.testing.assert_allclose(est.intercept_, ref.intercept_, rtol=0, atol=1e-6)
    assert (est.coef_ == 0).sum() == (ref.coef_ == 0).sum()
    # a later partial_fit reads C per the same weight as after the in-memory fit
    chunk = slice(0, 50)
    est.partial_fit(X[chunk], y[chunk], sample_weight=w[chunk])
    ref.partial_fit(X[chunk], y[chunk], sample_weight=w[chunk])
    assert est.optimizer_state_.seen == pytest.approx(ref.optimizer_state_.seen, rel=1e-12)


def test_sparse_chunks_behind_a_dense_meta_fit_as_in_memory(client):
    """Sparse chunks whose dask array claims dense ones (``da.from_delayed`` and
    ``map_blocks`` default to a NumPy meta): the fit cannot centre them (the workers'
    mean is NaN) and fits as the in-memory sparse one; it stopped with "a sparse block
    cannot be centred" when the meta decided."""
    X, y, w = make_data()
    dX = da.from_array(X, chunks=(ROW_CHUNKS, -1)).map_blocks(sp.csr_matrix, meta=np.empty((0, 0)))
    params = dict(solver="lbfgs", tol=1e-5)
    ref = SoftmaxRegressionClassifier(**params).fit(sp.csr_matrix(X), y, w)
    est = SoftmaxRegressionClassifier(**params).fit(dX, *to_dask(X, y, w, False)[1:])
    f_ref, f = objective(ref, X, y, w), objective(est, X, y, w)
    assert abs(f - f_ref) <= 1e-10 * abs(f_ref)


@pytest.mark.parametrize("sparse", [False, True])
def test_data_term_equals_in_memory(client, sparse):
    """Loss, gradient, Hessian-vector products (the kept probabilities on the workers)
    and Hessian diagonal of the workers' blocks, against the in-memory data term."""
    X, y, w = make_data()
    est = SoftmaxRegressionClassifier(class_weight={"a": 2.0})
    loss, penalty, classes, *_ = _dask.problem(est, *to_dask(X, y, w, sparse))
    assert isinstance(loss.engine, _engine_dask.DaskEngine)
    assert len(loss.blocks) == len(ROW_CHUNKS)
    assert all(isinstance(b, distributed.Future) for b in loss.blocks)
    s = w * np.where(y == "a", 2.0, 1.0)
    layout = Layout(X.shape[1], 3, True)
    ref = SoftmaxLoss(sp.csr_matrix(X) if sparse else X, np.searchsorted(classes, y), s, layout)
    assert penalty.l2 == pytest.approx(1 / s.sum(), rel=1e-14)  # C = 1
    rng = np.random.default_rng(1)
    wv, v = rng.normal(size=(2, layout.size))
    f, g, hessp = loss.gradient_hessp(wv)
    f_ref, g_ref, hessp_ref = ref.gradient_hessp(wv)
    assert f == pytest.approx(f_ref, rel=1e-13)
    np.testing.assert_allclose(g, g_ref, rtol=1e-12, atol=1e-15)
    for _ in range(2):  # the kept futures serve more than one product
        np.testing.assert_allclose(hessp(v), hessp_ref(v), rtol=1e-12, atol=1e-15)
        v = rng.normal(size=layout.size)
    np.testing.assert_allclose(loss.hessian_diagonal(wv), ref.hessian_diagonal(wv), rtol=1e-12)
    np.testing.assert_allclose(loss.hessian_diagonal(), ref.hessian_diagonal(), rtol=1e-12)


def test_float32_binary_dataframe(client):
    """float32 kept; two classes (a reference class); a dask DataFrame with names."""
    pd = pytest.importorskip("pandas")
    X, y, w = make_data(n_classes=2, dtype=np.float32)
    frame = pd.DataFrame(X, columns=[f"f{j}" for j in range(X.shape[1])])
    dX = dd.from_pandas(frame, npartitions=3)
    dy = dd.from_pandas(pd.Series(y), npartitions=3)
    ref = SoftmaxRegressionClassifier(tol=1e-5).fit(frame, y, w)
    est = SoftmaxRegressionClassifier(tol=1e-5).fit(dX, dy, sample_weight=w)
    assert est.coef_.dtype == np.float32 and est.coef_.shape == (1, X.shape[1])
    np.testing.assert_array_equal(est.feature_names_in_, frame.columns)
    np.testing.assert_allclose(est.coef_, ref.coef_, rtol=0, atol=1e-4)  # float32 sums
    scores = est.decision_function(dX)
    assert isinstance(scores, da.Array) and scores.dtype == np.float32
    np.testing.assert_allclose(scores.compute(), est.decision_function(frame), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("sparse", [False, True])
def test_predictions_are_lazy_and_equal(client, sparse):
    X, y, w = make_data()
    est = SoftmaxRegressionClassifier().fit(X, y, w)  # fitted in memory
    dX = to_dask(X, y, w, sparse)[0]
    for method in ("predict", "predict_proba", "predict_log_proba", "decision_function"):
        lazy = getattr(est, method)(dX)
        assert isinstance(lazy, da.Array), method
        assert lazy.numblocks[0] == len(ROW_CHUNKS)
        expected = getattr(est, method)(X)
        assert lazy.shape == expected.shape and lazy.dtype == expected.dtype
        if method == "predict":
            np.testing.assert_array_equal(lazy.compute(), expected)
        else:  # per chunk: the same math, products blocked differently
            np.testing.assert_allclose(lazy.compute(), expected, rtol=1e-12, atol=1e-14)


def test_predictions_on_a_chunk_emptied_by_a_filter(client):
    """A boolean filter can leave a row chunk empty: fit skipped it, and predictions
    validated it as a zero-row X (an error); now it gives an empty result."""
    X, y, w = make_data()
    est = SoftmaxRegressionClassifier().fit(X, y, w)
    dX = da.from_array(X, chunks=(X.shape[0] // 2, -1))
    keep = np.arange(X.shape[0]) >= X.shape[0] // 2  # empties the first chunk
    filtered = dX[da.from_array(keep, chunks=dX.chunks[0])]
    for method in ("predict", "predict_proba", "predict_log_proba", "decision_function"):
        expected = getattr(est, method)(X[keep])
        got = getattr(est, method)(filtered).compute()
        assert got.shape == expected.shape and got.dtype == expected.dtype, method
        if method == "predict":
            np.testing.assert_array_equal(got, expected)
        else:
            np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-14)


def test_bad_dask_input(client):
    X, y, w = make_data()
    dX, dy, dw = to_dask(X, y, w, sparse=False)
    est = SoftmaxRegressionClassifier().fit(X, y)
    before = est.coef_.copy()
    bad = X.copy()
    bad[500, 2] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        est.fit(da.from_array(bad, chunks=(ROW_CHUNKS, -1)), dy)
    with pytest.raises(ValueError, match="y has 599 samples, but X has 600"):
        est.fit(dX, dy[:-1])
    with pytest.raises(ValueError, match="negative"):
        est.fit(dX, dy, sample_weight=-dw)
    with pytest.raises(ValueError, match="at least 2 classes"):
        est.fit(dX, da.full(600, "a", chunks=200))
    with pytest.raises(TypeError, match="numeric features"):
        est.fit(dX.astype(str), dy)
    with pytest.raises(ValueError, match="continuous"):
        est.fit(dX, da.from_array(np.linspace(0, 1, 600), chunks=200))
    with pytest.raises(ValueError, match="no rows"):
        est.fit(dX[:0], dy[:0])
    with pytest.raises(ValueError, match="label_smoothing is not supported"):
        SoftmaxRegressionClassifier(label_smoothing=0.1).fit(dX, dy)
    with pytest.raises(ValueError, match="coef_bounds is not supported"):
        SoftmaxRegressionClassifier(coef_bounds=(0, np.inf)).fit(dX, dy)
    with pytest.raises(ValueError, match="l1_type='grouped' is not supported"):
        SoftmaxRegressionClassifier(l1_type="grouped", l1_ratio=1.0).fit(dX, dy)
    with pytest.raises(ValueError, match="offset is not supported"):
        est.predict_proba(dX, offset=np.zeros((600, 3)))
    with pytest.raises(ValueError, match="solver='sgd' runs on in-memory data only"):
        SoftmaxRegressionClassifier(solver="sgd").fit(dX, dy)
    with pytest.raises(TypeError, match="partial_fit takes in-memory batches"):
        est.partial_fit(dX, dy)
    np.testing.assert_array_equal(est.coef_, before)  # a failed refit changes nothing


def test_fit_reports_as_in_memory(client, capsys):
    """The Dask fit stores what a fit in memory stores (``convergence_``, ``n_iter_``),
    stops by the same rule, and logs its progress with ``verbose``."""
    X, y, w = make_data()
    ref = SoftmaxRegressionClassifier(solver="lbfgs").fit(X, y, w)
    est = SoftmaxRegressionClassifier(solver="lbfgs", verbose=1).fit(*to_dask(X, y, w, False))
    assert est.convergence_.keys() == ref.convergence_.keys()
    assert est.convergence_["converged"] and ref.convergence_["converged"]
    assert est.convergence_["suboptimality_estimate"] <= est.tol
    assert est.convergence_["gradient_norm"] <= est.tol
    assert abs(int(est.n_iter_[0]) - int(ref.n_iter_[0])) <= 2
    assert est.optimizer_state_ is None and est._n_passes > 0
    out = capsys.readouterr().out
    assert f"{X.shape[0]} samples, {X.shape[1]} features, 3 classes" in out
    assert "converged" in out.splitlines()[-1]
    with pytest.warns(ConvergenceWarning, match="increase max_iter"):
        short = SoftmaxRegressionClassifier(max_iter=2).fit(*to_dask(X, y, w, False))
    assert not short.convergence_["converged"]


def test_prediction_methods_keep_their_signatures():
    import inspect

    for method in ("predict", "predict_proba", "predict_log_proba", "decision_function"):
        fn = getattr(SoftmaxRegressionClassifier, method)
        assert list(inspect.signature(fn).parameters) == ["self", "X", "offset"]
        assert fn.__name__ == method and "Parameters" in fn.__doc__


def test_import_and_missing_scheduler_messages():
    """``import softmax_sk`` and a numpy fit import nothing of Dask; a dask fit without a
    Client, or without distributed, says what to start or install."""
    code = """
import sys
import numpy as np
import softmax_sk
X = np.random.default_rng(0).normal(size=(40, 3))
softmax_sk.SoftmaxRegressionClassifier().fit(X, X[:, 0] > 0).predict_proba(X)
assert not [m for m in sys.modules if m.split(".")[0] in ("dask", "distributed")], "imported"
import dask.array as da
dX, dy = da.from_array(X, chunks=10), da.from_array(X[:, 0] > 0, chunks=10)
sys.modules["distributed"] = None  # as if not installed (before any dask fit imported it)
try:
    softmax_sk.SoftmaxRegressionClassifier().fit(dX, dy)
except ImportError as error:
    assert "softmax-sk[dask]" in str(error), error
else:
    raise AssertionError("no error without distributed")
del sys.modules["distributed"]
try:
    softmax_sk.SoftmaxRegressionClassifier().fit(dX, dy)
except RuntimeError as error:
    assert "Client" in str(error) and "start one" in str(error), error
else:
    raise AssertionError("no error without a Client")
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr


def test_grid_search_through_joblib_dask_backend(client):
    joblib = pytest.importorskip("joblib")
    X, y, _ = make_data()
    grid = {"C": [0.1, 10.0], "fit_intercept": [True, False]}
    search = GridSearchCV(SoftmaxRegressionClassifier(), grid, cv=3)
    local = GridSearchCV(SoftmaxRegressionClassifier(), grid, cv=3).fit(X, y)
    with joblib.parallel_backend("dask"):
        search.fit(X, y)
    tasks = client.run_on_scheduler(
        lambda dask_scheduler: [str(k) for k in dask_scheduler.task_prefixes]
    )
    assert any("batch_of" in k or "_fit_and_score" in k for k in tasks), tasks
    assert search.best_params_ == local.best_params_
    np.testing.assert_allclose(
        search.cv_results_["mean_test_score"], local.cv_results_["mean_test_score"]
    )


def test_worker_killed_mid_fit(client, monkeypatch):
    """Kill the worker process holding a chunk after a few evaluations: the chunk is
    recomputed elsewhere and the fit equals the in-memory one (or raises a clear
    error; never a silently different model). Last in the module: it costs a worker."""
    X, y, w = make_data()
    ref = SoftmaxRegressionClassifier(tol=1e-7).fit(X, y, w)
    real_reduce, calls, killed = _engine_dask.DaskEngine.reduce, [], []

    def reduce(self, fn, blocks, *args, **kwargs):
        calls.append(fn.__name__)
        if len(calls) == 4:
            holder = next(iter(self.client.who_has([blocks[0]])[blocks[0].key]))
            pid = self.client.run(os.getpid, workers=[holder])[holder]
            os.kill(pid, signal.SIGKILL)
            killed.append(pid)
        return real_reduce(self, fn, blocks, *args, **kwargs)

    monkeypatch.setattr(_engine_dask.DaskEngine, "reduce", reduce)
    try:
        est = SoftmaxRegressionClassifier(tol=1e-7).fit(*to_dask(X, y, w, sparse=False))
    except RuntimeError as error:
        assert "lost part of the training data" in str(error)
    else:
        np.testing.assert_allclose(est.coef_, ref.coef_, rtol=0, atol=1e-6)
        assert objective(est, X, y, w) == pytest.approx(objective(ref, X, y, w), rel=1e-10)
    assert killed and len(calls) > 4
    client.wait_for_workers(2, timeout=60)


def test_bench_dask_runs_on_the_cluster(client, tmp_path):
    """benchmarks/bench_dask.py's parts at a tiny size on this cluster (timings not asserted;
    the projection is checked against its formula)."""
    sys.path.insert(0, str(Path(__file__).parents[1] / "benchmarks"))
    import bench_dask

    args, meta = bench_dask.parse(
        "--gb 0.0005 --gb-binary 0.0002 --d 10 --k 3 --chunk-mb 0.1 --iters 2 --repeats 1 "
        "--overhead-chunks 2,4 --overhead-repeats 2".split()
    )
    result = bench_dask.run(args, {"LocalCluster, 2 workers": client}, meta)
    rows = {r["contender"]: r for r in result["fits"]["rows"]}
    assert rows["LocalCluster, 2 workers"]["max_coef_difference"] < 1e-10
    assert [r["chunks"] for r in result["overhead"]["rows"]] == [2, 4, 2, 4]
    p = result["projection"]
    two = rows["LocalCluster, 2 workers"]["per_iteration_s"] / result["fits"]["gb"]
    line = result["overhead"]["fit"][min(result["overhead"]["fit"])]
    for r in p["rows"]:
        assert r["compute_s"] == pytest.approx(two * 1000 / r["machines"])
        assert r["total_s"] == pytest.approx(
            r["compute_s"] + line["fixed_s"] + line["per_chunk_s"] * 1e12 / 128e6
        )
    assert "Projection" in bench_dask.markdown(result)


def test_callbacks_are_skipped_on_dask_data_with_a_warning(client):
    pytest.importorskip("sklearn.callback", reason="scikit-learn < 1.9 has no callbacks")

    class Recorder:
        def __init__(self):
            self.hooks = []

        def setup(self, estimator, context):
            self.hooks.append("setup")

        def on_fit_task_begin(self, estimator, context, **kwargs):
            self.hooks.append("begin")

        def on_fit_task_end(self, estimator, context, **kwargs):
            self.hooks.append("end")

        def teardown(self, estimator, context):
            self.hooks.append("teardown")

    X, y, w = make_data()
    rec = Recorder()
    est = SoftmaxRegressionClassifier().set_callbacks(rec)
    with pytest.warns(UserWarning, match="not run when fitting on dask collections"):
        est.fit(*to_dask(X, y, w, False))
    assert "begin" not in rec.hooks and est.convergence_["converged"]
    rec.hooks.clear()
    est.fit(X, y, w)  # in memory, they run
    assert rec.hooks.count("begin") > 1


def test_dask_collections_are_recognised_by_their_module():
    """dask 2024.3-2024.12 define dataframes in ``dask_expr``: they must take the dask
    path, not be computed on the client by ``np.asarray``."""
    from softmax_sk._estimator import _is_dask

    def instance_from(module):
        return type("DataFrame", (), {"__module__": module})()

    assert _is_dask(instance_from("dask_expr._collection"))
    assert _is_dask(instance_from("dask.array.core"))
    assert not _is_dask(instance_from("pandas.core.frame"))
    assert not _is_dask(np.zeros(3))
