"""Fitting and predicting through the array API: the same model as NumPy, where the data lives.

``array_api_strict`` (in the ``test`` extra) runs in CI; PyTorch's CPU device runs
where torch is installed; CUDA (PyTorch, CuPy) runs only where a GPU is, and is
skipped otherwise. scikit-learn's own array-API estimator checks run in
``test_sklearn_checks.py`` (the estimator's ``array_api_support`` tag is set).
"""

import warnings

import numpy as np
import pytest
import scipy.sparse as sp
import sklearn
from conftest import make_problem
from scipy.special import log_softmax as scipy_log_softmax
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils._array_api import move_estimator_to, move_to

from softmax_sk import SoftmaxRegressionClassifier
from softmax_sk._layout import Layout
from softmax_sk._loss import SoftmaxLoss


def dispatch():
    return sklearn.config_context(array_api_dispatch=True)


def _cuda_torch():
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device: GPU tests run only where one is")
    return torch, "cuda"


def _cupy():
    cupy = pytest.importorskip("cupy")
    try:
        cupy.cuda.runtime.getDeviceCount()
    except Exception:  # CuPy installed without a usable GPU
        pytest.skip("CuPy has no usable GPU")
    return cupy, None


def _namespace(name):
    """``(module, device)`` for the namespace ``name``; skips when it is not available."""
    if name == "array_api_strict":
        xp = pytest.importorskip("array_api_strict")
        return xp, xp.Device("device1")  # not the default device: results must follow X
    if name == "torch":
        return pytest.importorskip("torch"), "cpu"
    if name == "torch-cuda":
        return _cuda_torch()
    return _cupy()


CPU_NAMESPACES = ["array_api_strict", "torch"]
GPU_NAMESPACES = ["torch-cuda", "cupy"]
ALL_NAMESPACES = CPU_NAMESPACES + GPU_NAMESPACES
# Every solver and penalty: (solver, C, l1_ratio).
FITS = [
    ("lbfgs", 0.05, 0.0),
    ("lbfgs", np.inf, 0.0),
    ("owlqn", 0.05, 0.5),
    ("owlqn", 0.05, 1.0),
    ("newton-cg", 0.05, 0.0),
    ("newton-cg", 0.05, 0.5),
    ("newton-cg", 0.05, 1.0),
]


def _to_numpy(a):
    with dispatch():
        return np.asarray(move_to(a, xp=np, device="cpu"))


def _device_of(a):
    return getattr(a, "device", None)


def _objective(X, y, coef, intercept, C, l1_ratio):
    """scikit-learn's objective at ``coef_``/``intercept_`` (float64, on the host)."""
    z = X.astype(np.float64) @ coef.T.astype(np.float64) + intercept
    if coef.shape[0] == 1:
        z = np.column_stack([np.zeros(len(z)), z])
    ce = -scipy_log_softmax(z, axis=1)[np.arange(y.size), y]
    if np.isinf(C):
        return ce.sum()
    return C * ce.sum() + (1 - l1_ratio) / 2 * np.sum(coef**2.0) + l1_ratio * np.abs(coef).sum()


def _fit(X, y, **params):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # C=inf may stop on rounding
        return SoftmaxRegressionClassifier(max_iter=1000, **params).fit(X, y)


def _problem(n_classes, dtype):
    X, y = make_problem(n_classes, n_samples=300, n_features=8)
    return X.astype(dtype), y


@pytest.mark.parametrize("name", ALL_NAMESPACES)
@pytest.mark.parametrize(("solver", "C", "l1_ratio"), FITS)
@pytest.mark.parametrize("n_classes", [2, 3])
def test_float64_model_is_numpys(name, solver, C, l1_ratio, n_classes):
    xp, device = _namespace(name)
    X, y = _problem(n_classes, np.float64)
    params = dict(solver=solver, C=C, l1_ratio=l1_ratio, tol=1e-13)
    ref = _fit(X, y, **params)
    X_xp, y_xp = xp.asarray(X, device=device), xp.asarray(y, device=device)
    with dispatch():
        clf = _fit(X_xp, y_xp, **params)
    for name_ in ("coef_", "intercept_", "n_iter_", "classes_"):
        attribute = getattr(clf, name_)
        assert type(attribute) is type(X_xp), name_
        assert _device_of(attribute) == _device_of(X_xp), name_
    coef = _to_numpy(clf.coef_)
    assert coef.dtype == np.float64
    scale = np.abs(ref.coef_).max()
    np.testing.assert_allclose(coef, ref.coef_, rtol=0, atol=1e-10 * scale)
    np.testing.assert_allclose(
        _to_numpy(clf.intercept_), ref.intercept_, rtol=0, atol=1e-10 * scale
    )
    np.testing.assert_array_equal(_to_numpy(clf.classes_), ref.classes_)


@pytest.mark.parametrize("name", ALL_NAMESPACES)
@pytest.mark.parametrize(("solver", "C", "l1_ratio"), FITS)
def test_float32_objective_is_numpys(name, solver, C, l1_ratio):
    xp, device = _namespace(name)
    X, y = _problem(3, np.float32)
    params = dict(solver=solver, C=C, l1_ratio=l1_ratio, tol=1e-6)
    ref = _fit(X, y, **params)
    with dispatch():
        clf = _fit(xp.asarray(X, device=device), xp.asarray(y, device=device), **params)
    coef, intercept = _to_numpy(clf.coef_), _to_numpy(clf.intercept_)
    assert coef.dtype == intercept.dtype == np.float32
    f_xp = _objective(X, y, coef, intercept, C, l1_ratio)
    f_np = _objective(X, y, ref.coef_, ref.intercept_, C, l1_ratio)
    assert abs(f_xp - f_np) <= 1e-6 * abs(f_np)


@pytest.mark.parametrize("name", ALL_NAMESPACES)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_predictions_are_numpys_and_stay_on_the_device(name, dtype):
    xp, device = _namespace(name)
    X, y = _problem(3, dtype)
    labels = np.array([10, 20, 30])[y]
    X_xp = xp.asarray(X, device=device)
    with dispatch():
        clf = _fit(X_xp, xp.asarray(labels, device=device), tol=1e-8)
        outputs = {
            method: getattr(clf, method)(X_xp)
            for method in ("predict", "predict_proba", "predict_log_proba", "decision_function")
        }
        score = clf.score(X_xp, xp.asarray(labels, device=device))
        ref = move_estimator_to(clf, np, "cpu")  # the same model, predicting with NumPy
    rtol = 1e-12 if dtype == np.float64 else 1e-5
    for method, out in outputs.items():
        assert type(out) is type(X_xp) and _device_of(out) == _device_of(X_xp), method
        expected = getattr(ref, method)(X)
        np.testing.assert_allclose(_to_numpy(out), expected, rtol=rtol, atol=rtol, err_msg=method)
    assert isinstance(score, float) and score == pytest.approx(ref.score(X, labels))


def test_data_term_matches_numpys_in_float32_and_float64():
    """Loss, gradient, Hessian-vector product and Hessian diagonal of the array-API data
    term against ``SoftmaxLoss`` (NumPy, compiled kernels or fallback), with weights."""
    xps = pytest.importorskip("array_api_strict")
    from softmax_sk._xp_loss import ArrayAPILoss

    rng = np.random.default_rng(0)
    for n_classes, fit_intercept in [(2, True), (4, True), (4, False)]:
        X = rng.normal(size=(500, 7))
        y = rng.integers(0, n_classes, 500)
        sw = rng.uniform(0, 2, 500)
        sw[:5] = 0
        layout = Layout(7, n_classes, fit_intercept)
        w, v = rng.normal(size=layout.size), rng.normal(size=layout.size)
        for dtype, tol in [(np.float64, 1e-12), (np.float32, 2e-5)]:
            ref = SoftmaxLoss(X.astype(dtype), y, sw, layout)
            device = xps.Device("device1")
            with dispatch():
                X_xp = xps.asarray(X.astype(dtype), device=device)
                loss = ArrayAPILoss(X_xp, y, sw, layout, xp=xps, device=device, dtype=dtype)
                f, g, hessp = loss.gradient_hessp(w)
                f0, g0, hessp0 = ref.gradient_hessp(w)
                pairs = [
                    (f, f0),
                    (loss.loss(w), f0),
                    (g, g0),
                    (hessp(v), hessp0(v)),
                    (loss.hessian_diagonal(w), ref.hessian_diagonal(w)),
                    (loss.hessian_diagonal(), ref.hessian_diagonal()),
                ]
            for i, (a, b) in enumerate(pairs):
                np.testing.assert_allclose(a, b, rtol=tol, atol=tol, err_msg=f"{i} {dtype}")


def test_data_term_runs_several_device_blocks(monkeypatch):
    """Blocks are added on the device: many small ones give the one-block result."""
    xps = pytest.importorskip("array_api_strict")
    from softmax_sk import _xp_loss

    rng = np.random.default_rng(1)
    X, y = rng.normal(size=(1000, 5)), rng.integers(0, 3, 1000)
    layout = Layout(5, 3, True)
    w = rng.normal(size=layout.size)
    with dispatch():
        X_xp = xps.asarray(X)
        one = _xp_loss.ArrayAPILoss(
            X_xp, y, np.ones(1000), layout, xp=xps, device=None, dtype=X.dtype
        )
        monkeypatch.setattr(_xp_loss, "_DEVICE_BLOCK_BYTES", 8 * 3 * 128)
        many = _xp_loss.ArrayAPILoss(
            X_xp, y, np.ones(1000), layout, xp=xps, device=None, dtype=X.dtype
        )
        assert len(one.blocks) == 1 and len(many.blocks) == 8
        f1, g1 = one.loss_gradient(w)
        f8, g8 = many.loss_gradient(w)
    np.testing.assert_allclose(f8, f1, rtol=1e-13)
    np.testing.assert_allclose(g8, g1, rtol=1e-12, atol=1e-15)


def test_without_dispatch_an_array_numpy_cannot_read_says_how_to_enable_it():
    """A CUDA tensor or a CuPy array raises a cryptic TypeError in np.asarray; an
    array_api_strict array off its CPU device stands for them on a machine without GPU."""
    xps = pytest.importorskip("array_api_strict")
    X, y = _problem(3, np.float64)
    device = xps.Device("device1")
    clf = SoftmaxRegressionClassifier()
    with pytest.raises(TypeError, match=r"sklearn\.set_config\(array_api_dispatch=True\)"):
        clf.fit(xps.asarray(X, device=device), y)
    with pytest.raises(TypeError, match="y is a array_api_strict array"):
        clf.fit(X, xps.asarray(y, device=device))
    clf.fit(X, y)
    with pytest.raises(TypeError, match="array_api_dispatch=True"):
        clf.predict(xps.asarray(X, device=device))


def test_without_dispatch_a_torch_cpu_tensor_is_converted_as_scikit_learn_does():
    torch = pytest.importorskip("torch")
    X, y = _problem(3, np.float64)
    clf = _fit(torch.asarray(X), torch.asarray(y), tol=1e-10)
    ref = _fit(X, y, tol=1e-10)
    assert isinstance(clf.coef_, np.ndarray)
    np.testing.assert_array_equal(clf.coef_, ref.coef_)
    np.testing.assert_array_equal(clf.predict(torch.asarray(X)), ref.predict(X))


def test_model_fitted_on_a_device_moves_to_numpy_with_scikit_learns_helper():
    xps = pytest.importorskip("array_api_strict")
    X, y = _problem(3, np.float64)
    with dispatch():
        clf = _fit(xps.asarray(X), xps.asarray(y), tol=1e-10)
    with pytest.raises(ValueError, match="move_estimator_to"):
        clf.predict(X)  # dispatch off: a NumPy X against device coefficients
    with pytest.raises(ValueError, match="move_estimator_to"):
        clf.inference(X, y)
    with dispatch():
        with pytest.raises(ValueError, match="must use the same namespace"):
            clf.predict(X)
        host = move_estimator_to(clf, np, "cpu")
        on_device = _to_numpy(clf.predict_proba(xps.asarray(X)))
    assert isinstance(host.coef_, np.ndarray) and isinstance(host.classes_, np.ndarray)
    np.testing.assert_allclose(host.predict_proba(X), on_device, rtol=1e-12)


def test_sparse_x_with_dispatch_takes_the_numpy_path():
    X, y = _problem(3, np.float64)
    with dispatch():
        clf = _fit(sp.csr_matrix(X), y, tol=1e-10)
    assert isinstance(clf.coef_, np.ndarray)
    np.testing.assert_allclose(clf.coef_, _fit(X, y, tol=1e-10).coef_, rtol=1e-8)


def test_mixed_inputs_follow_x_and_labels_follow_y():
    xps = pytest.importorskip("array_api_strict")
    X, y = _problem(3, np.float64)
    with dispatch():
        clf = SoftmaxRegressionClassifier(tol=1e-10).fit(xps.asarray(X), y, np.ones(len(y)))
        pred = clf.predict(xps.asarray(X))
    assert type(clf.coef_) is type(xps.asarray(X)) and isinstance(clf.classes_, np.ndarray)
    assert type(pred) is type(xps.asarray(X))
    np.testing.assert_array_equal(_to_numpy(pred), _fit(X, y, tol=1e-10).predict(X))


def test_string_labels_stay_numpy():
    xps = pytest.importorskip("array_api_strict")
    X, y = _problem(3, np.float64)
    labels = np.array(["a", "b", "c"])[y]
    with dispatch():
        clf = _fit(xps.asarray(X), labels, tol=1e-8)
        pred = clf.predict(xps.asarray(X))
    assert isinstance(pred, np.ndarray)
    np.testing.assert_array_equal(pred, _fit(X, labels, tol=1e-8).predict(X))


def test_overflowing_logits_on_a_device_give_numpys_finite_probabilities():
    xps = pytest.importorskip("array_api_strict")
    X, y = _problem(3, np.float64)
    with dispatch():
        clf = _fit(xps.asarray(X), xps.asarray(y), tol=1e-8)
    ref = _fit(X, y, tol=1e-8)
    X_big = X[:5].copy()
    X_big[:, 0] = [1e308, -1e308, 1e300, 0.0, 1.0]
    with dispatch():
        proba = _to_numpy(clf.predict_proba(xps.asarray(X_big)))
    assert np.all(np.isfinite(proba))
    np.testing.assert_allclose(proba, ref.predict_proba(X_big), atol=1e-8)


def test_warm_start_from_a_device_model():
    xps = pytest.importorskip("array_api_strict")
    X, y = _problem(3, np.float64)
    X_xp, y_xp = xps.asarray(X), xps.asarray(y)
    with dispatch():
        clf = _fit(X_xp, y_xp, tol=1e-10, warm_start=True)
        first = int(clf.n_iter_[0])
        clf.fit(X_xp, y_xp)
    assert first > 0 and int(clf.n_iter_[0]) == 0  # already at the optimum


@pytest.mark.parametrize(
    "params",
    [{}, {"solver": "owlqn", "l1_ratio": 0.5}, {"solver": "newton-cg", "l1_ratio": 1.0}],
)
def test_scikit_learns_check_of_values_in_float64(params):
    """scikit-learn's own check with ``check_values=True``: every fitted array attribute
    and every method's output agrees with the NumPy fit's (not among the default checks).
    Not with PyTorch: scikit-learn's ``accuracy_score`` of integer torch labels is a
    float32 mean, which ``score`` cannot match to float64 precision; nor in float32, where
    ``n_iter_`` may differ by the rounding-limited stop."""
    pytest.importorskip("array_api_strict")
    from sklearn.utils.estimator_checks import check_array_api_input_and_values

    clf = SoftmaxRegressionClassifier(tol=1e-10, **params)
    check_array_api_input_and_values(
        "SoftmaxRegressionClassifier",
        clf,
        "array_api_strict",
        device_name="device1",
        check_sample_weight=True,
    )


def test_targets_offsets_and_smoothing_with_dispatch_say_they_need_numpy():
    """The extensions of the objective run on the host only: with a device X they refuse
    with a message rather than fit something else."""
    xps = pytest.importorskip("array_api_strict")
    X, y = make_problem(3, n_samples=60)
    Xd = xps.asarray(X)
    proba = np.full((60, 3), 1 / 3)
    with sklearn.config_context(array_api_dispatch=True):
        for kwargs, params in [
            ({"y_proba": proba}, {}),
            ({"offset": np.zeros((60, 3))}, {}),
            ({}, {"label_smoothing": 0.1}),
        ]:
            model = SoftmaxRegressionClassifier(**params)
            target = {} if "y_proba" in kwargs else {"y": xps.asarray(y)}
            with pytest.raises(ValueError, match="NumPy arrays only"):
                model.fit(Xd, **target, **kwargs)
        model = SoftmaxRegressionClassifier().fit(Xd, xps.asarray(y))
        with pytest.raises(ValueError, match="offset is supported with NumPy input only"):
            model.predict(Xd, offset=np.zeros((60, 3)))
    # ... and the tag says so, so scikit-learn's array-API checks skip that configuration
    assert SoftmaxRegressionClassifier().__sklearn_tags__().array_api_support
    assert not SoftmaxRegressionClassifier(label_smoothing=0.1).__sklearn_tags__().array_api_support
    assert not SoftmaxRegressionClassifier(solver="sgd").__sklearn_tags__().array_api_support


@pytest.mark.parametrize("name", ALL_NAMESPACES)
@pytest.mark.parametrize(
    "params",
    [
        dict(coef_bounds=(0, np.inf), intercept_bounds=(-0.5, 0.5)),  # lbfgsb
        dict(coef_bounds=(-0.3, 0.3), l1_ratio=0.5, solver="lbfgsb"),
        dict(l1_type="grouped", l1_ratio=1.0, C=0.05),  # proxnewton
        # (proxqn stalls on rounding near tol=1e-12, at a gradient of 1e-8 to 1e-10)
        dict(l1_type="grouped", l1_ratio=0.5, C=0.02, solver="proxnewton"),
    ],
)
def test_bounds_and_grouped_lasso_fit_through_the_host_iterate(name, params):
    """The solvers keep the iterate on the host, so coefficient bounds and the grouped
    lasso need nothing of the namespace: the device fit is NumPy's, on the device,
    with the bounds and the dropped features exact."""
    xp, device = _namespace(name)
    X, y = _problem(3, np.float64)
    ref = _fit(X, y, tol=1e-12, **params)
    with dispatch():
        clf = _fit(xp.asarray(X, device=device), xp.asarray(y, device=device), tol=1e-12, **params)
    assert type(clf.coef_) is type(xp.asarray(X, device=device))
    coef, intercept = _to_numpy(clf.coef_), _to_numpy(clf.intercept_)
    scale = np.abs(ref.coef_).max()
    np.testing.assert_allclose(coef, ref.coef_, rtol=0, atol=1e-9 * scale)
    np.testing.assert_allclose(intercept, ref.intercept_, rtol=0, atol=1e-9 * scale)
    if "coef_bounds" in params:
        lower, upper = params["coef_bounds"]
        assert coef.min() >= lower and coef.max() <= upper
        assert (coef == lower).any() or (coef == upper).any()  # a bound is active, exactly
    else:
        dropped = ~ref.coef_.any(axis=0)
        assert dropped.any() and not coef[:, dropped].any()  # whole features, exactly 0


def test_partial_fit_says_it_runs_on_numpy():
    """partial_fit with dispatch on, or on a model fitted on another library's arrays,
    failed deep inside (a dtype TypeError, an IndexError); now a ValueError says what
    to do, as fit(solver="sgd") did."""
    xps = pytest.importorskip("array_api_strict")
    X, y = make_problem(3, n_samples=60)
    with dispatch():
        with pytest.raises(ValueError, match="partial_fit runs on NumPy arrays only"):
            SoftmaxRegressionClassifier().partial_fit(xps.asarray(X), xps.asarray(y), [0, 1, 2])
        model = SoftmaxRegressionClassifier().fit(xps.asarray(X), xps.asarray(y))
    with pytest.raises(ValueError, match="move_estimator_to"):
        model.partial_fit(X, y)
    move_estimator_to(model, np, "cpu").partial_fit(X, y)  # once moved, it streams on
