"""The compiled kernels (exp, fused softmax rows, Hessian rows) against independent references.

``softmax_sk._kernels`` is built at install time where a C compiler is found.
The kernel tests here (marked ``needs_kernels``) skip only when the kernels are
switched off on purpose, ``SOFTMAX_SK_NO_KERNELS=1`` (CI's numpy leg); with the
kernels missing otherwise they FAIL, naming why they are missing, so that a
broken build cannot pass as a green run. ``SOFTMAX_SK_REQUIRE_KERNELS=1`` (CI's
compiled leg) additionally makes ``test_kernels_are_in_use_when_required`` fail
without them. The numpy fallbacks are covered by every other test, compared
with the kernels here, and tested on their own (memory, empty blocks) in both
legs.
"""

import array
import os
import subprocess
import sys

import numpy as np
import pytest
from scipy.special import logsumexp, softmax

import softmax_sk
import softmax_sk._softmax as softmax_module
from softmax_sk import SoftmaxRegressionClassifier

kernels = softmax_module._kernels
KERNELS_DISABLED = softmax_module._env_flag("SOFTMAX_SK_NO_KERNELS")
KERNELS_REQUIRED = softmax_module._env_flag("SOFTMAX_SK_REQUIRE_KERNELS")


@pytest.fixture
def _kernels_present():
    if KERNELS_DISABLED:
        pytest.skip("compiled kernels disabled by SOFTMAX_SK_NO_KERNELS")
    if kernels is None:
        pytest.fail(
            "softmax_sk._kernels is missing: "
            f"{softmax_module._kernels_missing}. Rebuild it (pip install -v -e . shows "
            "why the build failed), or set SOFTMAX_SK_NO_KERNELS=1 to test the numpy "
            "fallback alone."
        )


needs_kernels = pytest.mark.usefixtures("_kernels_present")


def test_kernels_are_in_use_when_required():
    if KERNELS_REQUIRED:
        assert softmax_module._kernels is not None, (
            "SOFTMAX_SK_REQUIRE_KERNELS is set but the compiled kernels are not in use: "
            + softmax_module._kernels_status()
        )
    if KERNELS_DISABLED:
        assert softmax_module._kernels is None
        assert "SOFTMAX_SK_NO_KERNELS" in softmax_module._kernels_status()


def _kernels_in_a_fresh_interpreter(**env):
    code = "import softmax_sk._softmax as s; print(s._kernels is not None, s._kernels_status())"
    environ = {k: v for k, v in os.environ.items() if not k.startswith("SOFTMAX_SK_")}
    result = subprocess.run(
        [sys.executable, "-c", code],
        env={**environ, **env},
        capture_output=True,
        text=True,
        check=True,
    )
    return result.stdout


@pytest.mark.parametrize("value", ["1", "yes"])
def test_no_kernels_variable_forces_the_numpy_fallback(value):
    out = _kernels_in_a_fresh_interpreter(SOFTMAX_SK_NO_KERNELS=value)
    assert out.startswith("False") and "disabled by SOFTMAX_SK_NO_KERNELS" in out


@needs_kernels
@pytest.mark.parametrize("value", [None, "0", ""])
def test_kernels_load_unless_disabled(value):
    env = {} if value is None else {"SOFTMAX_SK_NO_KERNELS": value}
    assert _kernels_in_a_fresh_interpreter(**env).startswith("True in use")


def test_show_versions_names_versions_blas_and_the_kernels(capsys):
    softmax_sk.show_versions()
    out = capsys.readouterr().out
    for name in ["python", "softmax-sk", "numpy", "scipy", "scikit-learn", "threadpoolctl"]:
        assert f"{name}: " in out
    assert f"softmax-sk: {softmax_sk.__version__}" in out
    assert f"numpy: {np.__version__}" in out
    assert "internal_api: openblas" in out or "user_api: blas" in out
    kernel_line = next(line for line in out.splitlines() if "compiled kernels" in line)
    if softmax_module._kernels is None:
        assert "not in use" in kernel_line
    else:
        assert kernel_line.endswith(f"in use ({kernels.__file__})")
    if KERNELS_DISABLED:
        assert "disabled by SOFTMAX_SK_NO_KERNELS" in kernel_line


def test_show_versions_says_why_the_kernels_are_not_in_use(monkeypatch, capsys):
    monkeypatch.setattr(softmax_module, "_kernels", None)
    monkeypatch.setattr(softmax_module, "_kernels_missing", "not built (no module named x)")
    info = softmax_sk._show_versions._versions_info()
    assert info["kernels"] == {
        "in_use": False,
        "status": "not in use, numpy fallback: not built (no module named x)",
    }
    assert {"numpy", "scipy", "scikit-learn", "threadpoolctl"} <= set(info["dependencies"])
    softmax_sk.show_versions()
    assert "compiled kernels: not in use, numpy fallback: not built" in capsys.readouterr().out


def fast_exp(x, dtype):
    out = np.array(x, dtype=dtype)
    kernels.exp_inplace(out)
    return out


def ulps(got, want):
    """Distance in units of the last place of ``want`` (subnormal spacing included)."""
    return np.abs(got.astype(np.float64) - want) / np.spacing(want)


@needs_kernels
@pytest.mark.parametrize(
    "dtype, low, high",
    [
        (np.float64, -745.2, 0.0),
        (np.float64, -40.0, 0.0),
        (np.float64, -1e-3, 1e-3),
        (np.float64, -1e-300, 1e-300),
        (np.float64, 0.0, 709.78),
        (np.float64, -708.5, -700.0),
        (np.float32, -104.0, 0.0),
        (np.float32, -20.0, 0.0),
        (np.float32, -1e-3, 1e-3),
        (np.float32, 0.0, 88.72),
        (np.float32, -103.9, -87.0),  # float32 subnormals
    ],
)
def test_exp_within_one_ulp_of_the_correctly_rounded_value(dtype, low, high):
    x = np.random.default_rng(0).uniform(low, high, size=200_000).astype(dtype)
    # float64 libm, rounded to the dtype: correctly rounded but for ties at 1e-16.
    want = np.exp(x.astype(np.float64)).astype(dtype)
    assert ulps(fast_exp(x, dtype), want).max() <= 1.0


@needs_kernels
@pytest.mark.parametrize(
    "dtype, values",
    [
        (np.float64, [-745.14, -745.13, -708.4, 709.78, 709.79]),
        (np.float32, [-103.98, -103.97, -87.4, 88.72, 88.73]),
    ],
)
def test_exp_special_values_and_thresholds(dtype, values):
    x = np.array([0.0, -0.0, -np.inf, np.inf, np.nan, *values], dtype=dtype)
    with np.errstate(over="ignore"):
        want = np.exp(x.astype(np.float64)).astype(dtype)
    got = fast_exp(x, dtype)
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    infinite = np.isinf(want)
    np.testing.assert_array_equal(got[infinite], want[infinite])
    positive = np.isfinite(want) & (want > 0)
    assert ulps(got[positive], want[positive].astype(np.float64)).max() <= 1.0
    tiny = np.finfo(dtype).smallest_subnormal
    assert got[5] == 0.0 and got[6] == tiny  # past the last subnormal, and it


@needs_kernels
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("n", range(0, 21))
def test_exp_every_length_is_complete(n, dtype):
    # The vectorised loop handles the remainder separately: no entry may be skipped.
    x = -np.arange(n, dtype=dtype) / 3
    want = np.exp(x.astype(np.float64)).astype(dtype)
    assert ulps(fast_exp(x, dtype), want).max(initial=0.0) <= 1.0


def _reference(z, bias, scale, reference):
    """scipy's softmax and logsumexp in float64 on explicit logits."""
    z = z.astype(np.float64) + (0.0 if bias is None else bias)
    if reference:
        z = np.column_stack([np.zeros(len(z)), z])
    p = softmax(z, axis=1)[:, int(reference) :]
    return p * (1.0 if scale is None else scale[:, None]), logsumexp(z, axis=1)


@needs_kernels
@pytest.mark.parametrize("dtype, rtol", [(np.float64, 1e-14), (np.float32, 2e-6)])
# Rows of up to 64 entries go through tiles of 1024 entries (several tiles and a
# partial one here), wider ones row by row.
@pytest.mark.parametrize("k", [1, 2, 3, 7, 10, 17, 64, 65, 1000])
@pytest.mark.parametrize("reference", [False, True])
@pytest.mark.parametrize("with_bias, with_scale", [(False, False), (True, True), (True, False)])
def test_softmax_rows_matches_scipy(dtype, rtol, k, reference, with_bias, with_scale):
    rng = np.random.default_rng(k)
    n = 2500 // k + 7
    z = (rng.normal(size=(n, k)) * 5).astype(dtype)
    bias = rng.normal(size=k).astype(dtype) if with_bias else None
    scale = rng.uniform(0.1, 2.0, size=n).astype(dtype) if with_scale else None
    want, want_lse = _reference(z, bias, scale, reference)
    lse = np.empty(n, dtype=dtype)
    kernels.softmax_rows(z, bias, scale, lse, reference)
    np.testing.assert_allclose(z, want, rtol=rtol, atol=rtol * 1e-3)
    np.testing.assert_allclose(lse, want_lse, rtol=rtol, atol=rtol)


@needs_kernels
@pytest.mark.parametrize("dtype, rtol", [(np.float64, 1e-13), (np.float32, 1e-5)])
@pytest.mark.parametrize("k", [1, 2, 10, 64, 65, 300])
@pytest.mark.parametrize("reference", [False, True])
def test_softmax_rows_with_labels_gives_the_cross_entropy_and_its_gradient(
    dtype, rtol, k, reference
):
    # Against scipy: gradient s_i (p_i - onehot_i), cross-entropy lse_i - z_i[y_i];
    # with a reference class, label -1 is the implicit class of logit 0.
    rng = np.random.default_rng(k + 100 * reference)
    n = 3000 // k + 5
    z = (rng.normal(size=(n, k)) * 4).astype(dtype)
    bias = rng.normal(size=k).astype(dtype)
    scale = rng.uniform(0.1, 2.0, size=n).astype(dtype)
    labels = rng.integers(-int(reference), k, size=n).astype(np.intp)
    full = (z + bias).astype(np.float64)
    if reference:
        full = np.hstack([np.zeros((n, 1)), full])
    onehot = np.eye(full.shape[1])[labels + int(reference)]
    grad = scale[:, None] * (softmax(full, axis=1) - onehot)
    ce = logsumexp(full, axis=1) - full[np.arange(n), labels + int(reference)]
    out = np.empty(n, dtype=dtype)
    kernels.softmax_rows(z, bias, scale, out, reference, labels)
    np.testing.assert_allclose(z, grad[:, int(reference) :], rtol=rtol, atol=rtol)
    np.testing.assert_allclose(out, ce, rtol=rtol, atol=rtol)


@needs_kernels
def test_softmax_rows_rejects_bad_labels_without_touching_z():
    z = np.arange(12.0).reshape(4, 3)
    out = np.empty(4)
    bad_labels = [
        np.array([0, 1, 2, 3]),  # a column z does not have
        np.array([0, -1, 2, 1]),  # -1 without a reference class
        np.array([0, 1, 2]),  # too short
        np.array([0, 1, 2, 1], dtype=np.int32),  # not intp
        np.array([0.0, 1.0, 2.0, 1.0]),
        np.array([0, 1, 2, 1, 0, 0, 0, 0])[::2],  # not contiguous
    ]
    for labels in bad_labels:
        before = z.copy()
        with pytest.raises((TypeError, ValueError, BufferError)):
            kernels.softmax_rows(z, None, None, out, False, labels)
        np.testing.assert_array_equal(z, before)
    with pytest.raises(ValueError, match="labels"):
        kernels.softmax_rows(z, None, None, out, True, np.array([0, -2, 1, 1]))


@needs_kernels
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_softmax_rows_finite_for_extreme_logits(dtype):
    big = np.finfo(dtype).max / 4
    z = np.array([[big, -big, 0.0], [-big, -big, -big], [1e-30, 0.0, -1e-30]], dtype=dtype)
    lse = np.empty(3, dtype=dtype)
    kernels.softmax_rows(z, None, None, lse, False)
    assert np.isfinite(z).all() and np.isfinite(lse).all()
    np.testing.assert_allclose(z.sum(axis=1), 1.0, rtol=1e-6)
    np.testing.assert_array_equal(z[0], [1.0, 0.0, 0.0])
    np.testing.assert_allclose(lse[0], big, rtol=1e-6)


@needs_kernels
def test_softmax_rows_rejects_what_it_cannot_use():
    z = np.zeros((4, 3))
    lse = np.empty(4)
    bad_calls = [
        (z.astype(np.float32), None, None, lse),  # lse of another dtype
        (z, np.zeros(2), None, lse),  # bias of the wrong length
        (z, None, np.zeros(3), lse),  # scale of the wrong length
        (z, None, None, np.empty(3)),  # lse of the wrong length
        (np.zeros((4, 6))[:, ::2], None, None, lse),  # not contiguous
        (z.astype(np.int64), None, None, lse),
        (np.zeros(4), None, None, lse),  # 1-D
        (z, np.zeros(3, dtype=np.float32), None, lse),  # bias of another dtype
    ]
    for args in bad_calls:
        before = [None if a is None else a.copy() for a in args]
        with pytest.raises((TypeError, ValueError, BufferError)):
            kernels.softmax_rows(*args, False)
        for a, b in zip(args, before, strict=True):
            if a is not None:
                np.testing.assert_array_equal(a, b)
    read_only = np.zeros((4, 3))
    read_only.flags.writeable = False
    with pytest.raises((TypeError, ValueError, BufferError)):
        kernels.softmax_rows(read_only, None, None, lse, False)


@needs_kernels
def test_exp_rejects_what_it_cannot_overwrite_in_place():
    for bad in [np.zeros((4, 4))[:, ::2], np.zeros(4, dtype=np.int64), b"12345678"]:
        with pytest.raises((TypeError, ValueError, BufferError)):
            kernels.exp_inplace(bad)
    x = np.zeros(3)
    x.flags.writeable = False
    with pytest.raises((TypeError, ValueError, BufferError)):
        kernels.exp_inplace(x)


@needs_kernels
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("with_labels", [False, True])
def test_numpy_fallback_gives_the_same_softmax(dtype, with_labels, monkeypatch):
    rng = np.random.default_rng(2)
    z = (rng.normal(size=(50, 9)) * 3).astype(dtype)
    bias, scale = rng.normal(size=9), rng.uniform(size=50)
    labels = rng.integers(-1, 9, size=50).astype(np.intp) if with_labels else None
    compiled = z.copy()
    out = softmax_module._softmax_inplace(compiled, True, scale=scale, bias=bias, labels=labels)
    monkeypatch.setattr(softmax_module, "_kernels", None)
    fallback = z.copy()
    out_fallback = softmax_module._softmax_inplace(
        fallback, True, scale=scale, bias=bias, labels=labels
    )
    rtol = 10 * np.finfo(dtype).eps
    # The observed entry s (p - 1) cancels: its rounding is relative to s (< 1); the
    # log of the row sum, summed in another order, differs by rounding absolutely.
    atol = rtol if with_labels else rtol * 1e-3
    np.testing.assert_allclose(compiled, fallback, rtol=rtol, atol=atol)
    np.testing.assert_allclose(out, out_fallback, rtol=rtol, atol=rtol)


@needs_kernels
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_fit_is_the_same_without_the_kernels(dtype, monkeypatch):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(600, 5)).astype(dtype)
    y = rng.integers(0, 4, size=600)
    model = SoftmaxRegressionClassifier(tol=1e-10 if dtype == np.float64 else 1e-5).fit(X, y)
    monkeypatch.setattr(softmax_module, "_kernels", None)
    reference = SoftmaxRegressionClassifier(tol=model.tol).fit(X, y)
    rtol = 1e-9 if dtype == np.float64 else 1e-4
    np.testing.assert_allclose(model.coef_, reference.coef_, rtol=rtol, atol=rtol * 1e-3)


@needs_kernels
@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_the_loss_uses_both_row_kernels(monkeypatch):
    # The loss must actually call the compiled row kernels (or they buy nothing).
    calls = {"softmax_rows": [], "hessian_rows": []}

    class Spy:
        @staticmethod
        def softmax_rows(z, *args):
            calls["softmax_rows"].append(z.shape)
            kernels.softmax_rows(z, *args)

        @staticmethod
        def hessian_rows(r, *args):
            calls["hessian_rows"].append(r.shape)
            kernels.hessian_rows(r, *args)

    monkeypatch.setattr(softmax_module, "_kernels", Spy)
    rng = np.random.default_rng(1)
    X, y = rng.normal(size=(300, 4)), rng.integers(0, 3, size=300)
    SoftmaxRegressionClassifier(solver="newton-cg", max_iter=2).fit(X, y)
    for shapes in calls.values():
        assert shapes and all(shape == (300, 3) for shape in shapes)


def hessian_reference(z, s, v, bias):
    """``s_i (diag(p_i) - p_i p_i^T) (v_i + bias)`` per row, as explicit K x K matrices."""
    p = softmax(z.astype(np.float64), axis=1)
    H = s[:, None, None] * (
        np.einsum("ij,jk->ijk", p, np.eye(p.shape[1])) - p[:, :, None] * p[:, None, :]
    )
    return np.einsum("ijk,ik->ij", H, v + bias)


@needs_kernels
@pytest.mark.parametrize("dtype, rtol", [(np.float64, 1e-12), (np.float32, 1e-4)])
@pytest.mark.parametrize("k", [1, 2, 10, 65])
@pytest.mark.parametrize("reference", [False, True])
@pytest.mark.parametrize("with_bias", [False, True])
def test_hessian_rows_is_the_hessian_of_the_cross_entropy(dtype, rtol, k, reference, with_bias):
    rng = np.random.default_rng(k)
    n = 40
    z = rng.normal(size=(n, k + reference)) * 2
    s = rng.uniform(0.1, 2.0, size=n)
    s[3] = 0.0  # a row of weight 0 contributes nothing
    v = rng.normal(size=(n, k))
    bias = rng.normal(size=k) if with_bias else np.zeros(k)
    stored = slice(int(reference), None)  # the reference class (column 0) is not stored
    want = hessian_reference(
        z,
        s,
        np.column_stack([np.zeros(n), v]) if reference else v,
        np.concatenate([[0.0], bias]) if reference else bias,
    )[:, stored]
    q = (s[:, None] * softmax(z, axis=1)[:, stored]).astype(dtype)
    inv_scale = np.divide(1.0, s, out=np.zeros(n), where=s > 0).astype(dtype)
    r = v.astype(dtype)
    kernels.hessian_rows(r, q, bias.astype(dtype) if with_bias else None, inv_scale)
    assert r.dtype == dtype
    scale = s.max() * np.abs(v + bias).max()  # of the entries, before cancellation
    np.testing.assert_allclose(r, want, rtol=rtol, atol=rtol * scale)
    assert not r[3].any()


@needs_kernels
def test_hessian_rows_rejects_what_it_cannot_use_without_touching_r():
    r, q, inv = np.ones((5, 3)), np.ones((5, 3)), np.ones(5)
    bad_calls = [
        (r, np.ones((5, 4)), None, inv),  # q's shape
        (r, np.ones((5, 3), dtype=np.float32), None, inv),  # q's dtype
        (r, q, None, np.ones(4)),  # inv_scale's length
        (r, q, np.ones(2), inv),  # bias's length
        (r, q, np.ones(3, dtype=np.float32), inv),  # bias's dtype
        (r, np.ones((5, 6))[:, ::2], None, inv),  # not contiguous
        (r.astype(np.int64), q, None, inv),
    ]
    for args in bad_calls:
        with pytest.raises((TypeError, ValueError, BufferError)):
            kernels.hessian_rows(*args)
        assert (r == 1).all()
    frozen = r.copy()
    frozen.flags.writeable = False
    with pytest.raises((TypeError, ValueError, BufferError)):
        kernels.hessian_rows(frozen, q, None, inv)


@needs_kernels
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_numpy_fallback_gives_the_same_hessian_rows(dtype, monkeypatch):
    rng = np.random.default_rng(3)
    r = rng.normal(size=(50, 9)).astype(dtype)
    q = rng.uniform(size=(50, 9)).astype(dtype)
    inv_scale, bias = rng.uniform(1, 2, size=50).astype(dtype), rng.normal(size=9).astype(dtype)
    compiled = softmax_module._hessian_rows_inplace(r.copy(), q, inv_scale, bias)
    monkeypatch.setattr(softmax_module, "_kernels", None)
    fallback = softmax_module._hessian_rows_inplace(r.copy(), q, inv_scale, bias)
    rtol = 10 * np.finfo(dtype).eps
    np.testing.assert_allclose(compiled, fallback, rtol=rtol, atol=rtol * np.abs(fallback).max())


def _softmax_call(z=None, bias=None, scale=None, out=None, reference=False, labels=None):
    z = np.zeros((4, 3)) if z is None else z
    out = np.empty(4) if out is None else out
    return (z, bias, scale, out, reference, labels)


def _read_only(a):
    a = a.copy()
    a.flags.writeable = False
    return a


F32 = np.float32
BAD_SOFTMAX_CALLS = [
    # (arguments, exception, message)
    (_softmax_call(z=[[0.0, 1.0]]), TypeError, "z must be an array"),
    (_softmax_call(z=np.zeros((4, 3, 1))), TypeError, "z must be a 2-D float32 or float64"),
    (_softmax_call(z=np.zeros((4, 3), dtype=np.float16)), TypeError, "got 2-D float16"),
    (_softmax_call(z=np.zeros((4, 3)).astype(">f8")), TypeError, "float32 or float64"),
    (_softmax_call(z=np.zeros((3, 4)).T), ValueError, "z must be C-contiguous"),
    (_softmax_call(z=_read_only(np.zeros((4, 3)))), ValueError, "z is read-only"),
    (_softmax_call(out=np.empty(4, dtype=F32)), TypeError, "out must be a 1-D float64"),
    (_softmax_call(out=np.empty(5)), ValueError, "out needs 4 entries"),
    (_softmax_call(out=np.empty(8)[::2]), ValueError, "out must be C-contiguous"),
    (_softmax_call(out=_read_only(np.empty(4))), ValueError, "out is read-only"),
    (_softmax_call(out=np.empty((4, 1))), TypeError, "out must be a 1-D"),
    (_softmax_call(bias=np.zeros(3, dtype=F32)), TypeError, "bias must be a 1-D float64"),
    (_softmax_call(bias=np.zeros(4)), ValueError, "bias needs 3 entries"),
    (_softmax_call(bias=np.zeros(6)[::2]), ValueError, "bias must be C-contiguous"),
    (_softmax_call(scale=np.ones(3)), ValueError, "scale needs 4 entries"),
    (_softmax_call(scale=np.ones(4, dtype=F32)), TypeError, "scale must be a 1-D float64"),
    (_softmax_call(labels=np.zeros(4, dtype=np.int32)), TypeError, "labels must be a 1-D intp"),
    (_softmax_call(labels=np.zeros((4, 1), dtype=np.intp)), TypeError, "labels must be a 1-D"),
    (_softmax_call(labels=np.zeros(3, dtype=np.intp)), ValueError, "labels needs 4 entries"),
    (_softmax_call(labels=np.zeros(8, dtype=np.intp)[::2]), ValueError, "C-contiguous"),
    (_softmax_call(labels=np.array([0, 1, 3, 0])), ValueError, r"labels\[2\] = 3 .*0\.\.2"),
    (_softmax_call(labels=np.array([0, -1, 2, 0])), ValueError, "needs reference=True"),
    (_softmax_call(labels=np.array([0, 1, -2, 0]), reference=True), ValueError, "labels"),
    (_softmax_call(z=np.zeros((4, 0))), ValueError, "no columns"),
    (_softmax_call(z=np.zeros((4, 0)), labels=np.zeros(4, dtype=np.intp)), ValueError, "labels"),
]


@needs_kernels
@pytest.mark.parametrize("args, error, message", BAD_SOFTMAX_CALLS)
def test_softmax_rows_validates_every_argument_and_writes_nothing(args, error, message):
    before = [a.copy() if isinstance(a, np.ndarray) else a for a in args]
    with pytest.raises(error, match=message):
        kernels.softmax_rows(*args)
    for a, b in zip(args, before, strict=True):
        if isinstance(a, np.ndarray) and a.dtype.kind == "f" and a is not args[3]:
            np.testing.assert_array_equal(a, b)  # out is scratch; z and the rest untouched


BAD_HESSIAN_CALLS = [
    ((np.ones((5, 3)), np.ones((5, 4)), None, np.ones(5)), ValueError, "q must have r's shape"),
    ((np.ones((5, 3)), np.ones((5, 3), F32), None, np.ones(5)), TypeError, "q must be a 2-D f"),
    ((np.ones((5, 3)), np.ones((5, 6))[:, ::2], None, np.ones(5)), ValueError, "q must be C-cont"),
    ((np.ones((5, 3)), np.ones((5, 3)), None, np.ones(4)), ValueError, "inv_scale needs 5"),
    ((np.ones((5, 3)), np.ones((5, 3)), None, np.ones(5, F32)), TypeError, "inv_scale must be"),
    ((np.ones((5, 3)), np.ones((5, 3)), np.ones(2), np.ones(5)), ValueError, "bias needs 3"),
    ((np.ones((5, 3)), np.ones((5, 3)), np.ones(3, F32), np.ones(5)), TypeError, "bias must be"),
    ((np.ones((5, 3), np.int64), np.ones((5, 3)), None, np.ones(5)), TypeError, "r must be"),
    ((np.ones((3, 5)).T, np.ones((5, 3)), None, np.ones(5)), ValueError, "r must be C-contig"),
    ((_read_only(np.ones((5, 3))), np.ones((5, 3)), None, np.ones(5)), ValueError, "read-only"),
    ((np.ones((5, 3)), "q", None, np.ones(5)), TypeError, "q must be an array"),
]


@needs_kernels
@pytest.mark.parametrize("args, error, message", BAD_HESSIAN_CALLS)
def test_hessian_rows_validates_every_argument_and_writes_nothing(args, error, message):
    r = args[0].copy()
    with pytest.raises(error, match=message):
        kernels.hessian_rows(*args)
    np.testing.assert_array_equal(args[0], r)


@needs_kernels
def test_exp_inplace_validates_its_argument():
    with pytest.raises(TypeError, match="float32 or float64"):
        kernels.exp_inplace(np.zeros(4, dtype=np.int64))
    with pytest.raises(TypeError, match="must be an array"):
        kernels.exp_inplace([0.0])
    with pytest.raises(ValueError, match="read-only"):
        kernels.exp_inplace(_read_only(np.zeros(3)))
    with pytest.raises(ValueError, match="C-contiguous"):
        kernels.exp_inplace(np.zeros((4, 4))[:, ::2])
    x = np.zeros((2, 3), dtype=np.float32)  # any shape, and any writable buffer
    kernels.exp_inplace(x)
    np.testing.assert_array_equal(x, 1.0)
    b = array.array("d", [0.0, 0.0])
    kernels.exp_inplace(b)
    assert list(b) == [1.0, 1.0]


@needs_kernels
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_empty_blocks(dtype):
    # No rows: a no-op, whatever k (and labels of length 0).
    for k in (0, 3, 100):
        z, out = np.zeros((0, k), dtype), np.empty(0, dtype)
        kernels.softmax_rows(z, None, None, out, True, np.empty(0, dtype=np.intp))
        kernels.hessian_rows(z, np.zeros((0, k), dtype), None, np.empty(0, dtype))
    kernels.softmax_rows(np.zeros((0, 5), dtype), None, None, np.empty(0, dtype), False)
    kernels.exp_inplace(np.empty((0, 3), dtype))
    # No columns: only the reference class, probability 1, log-sum-exp (and
    # cross-entropy) 0; without a reference class, ValueError (was SIGFPE).
    z, out = np.zeros((4, 0), dtype), np.full(4, np.nan, dtype)
    kernels.softmax_rows(z, np.zeros(0, dtype), np.ones(4, dtype), out, True)
    np.testing.assert_array_equal(out, 0.0)
    out[:] = np.nan
    kernels.softmax_rows(z, None, None, out, True, np.full(4, -1, dtype=np.intp))
    np.testing.assert_array_equal(out, 0.0)
    with pytest.raises(ValueError, match="no columns"):
        kernels.softmax_rows(z, None, None, out, False)
    kernels.hessian_rows(z, np.zeros((4, 0), dtype), None, np.ones(4, dtype))  # no-op


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_numpy_fallback_empty_blocks(dtype, monkeypatch):
    monkeypatch.setattr(softmax_module, "_kernels", None)
    assert softmax_module._softmax_inplace(np.zeros((0, 3), dtype), False).shape == (0,)
    lse = softmax_module._softmax_inplace(np.zeros((4, 0), dtype), True)
    assert lse.dtype == dtype
    np.testing.assert_array_equal(lse, 0.0)
    with pytest.raises(ValueError, match="no columns"):
        softmax_module._softmax_inplace(np.zeros((4, 0), dtype), False)
    r = np.zeros((0, 3), dtype)
    softmax_module._hessian_rows_inplace(r, r.copy(), np.ones(0, dtype))


@pytest.mark.parametrize("method", ["softmax", "softmax_labels", "hessian"])
def test_numpy_fallback_needs_under_half_a_block(method, monkeypatch):
    # The loss holds one block of logits at a time (tests/test_loss.py); the
    # fallbacks work in place, with (n,) vectors as their only temporaries.
    import tracemalloc

    monkeypatch.setattr(softmax_module, "_kernels", None)
    rng = np.random.default_rng(4)
    n, k = 256, 512
    z, q = rng.normal(size=(n, k)), rng.uniform(size=(n, k))
    bias, scale, inv = rng.normal(size=k), rng.uniform(size=n), rng.uniform(1, 2, size=n)
    labels = rng.integers(0, k, size=n).astype(np.intp)
    call = {
        "softmax": lambda: softmax_module._softmax_inplace(z, False, scale=scale, bias=bias),
        "softmax_labels": lambda: softmax_module._softmax_inplace(
            z, True, scale=scale, bias=bias, labels=labels
        ),
        "hessian": lambda: softmax_module._hessian_rows_inplace(z, q, inv, bias),
    }[method]
    tracemalloc.start()
    try:
        held = tracemalloc.get_traced_memory()[0]
        call()
        peak = tracemalloc.get_traced_memory()[1] - held
    finally:
        tracemalloc.stop()
    assert peak < 0.5 * z.nbytes


@pytest.mark.parametrize("dtype, rtol", [(np.float64, 1e-12), (np.float32, 1e-4)])
@pytest.mark.parametrize("with_bias", [False, True])
def test_numpy_fallback_hessian_rows_is_the_hessian(dtype, rtol, with_bias, monkeypatch):
    monkeypatch.setattr(softmax_module, "_kernels", None)
    rng = np.random.default_rng(5)
    n, k = 30, 7
    z, s, v = rng.normal(size=(n, k)), rng.uniform(0.1, 2.0, size=n), rng.normal(size=(n, k))
    bias = rng.normal(size=k) if with_bias else np.zeros(k)
    want = hessian_reference(z, s, v, bias)
    q = (s[:, None] * softmax(z, axis=1)).astype(dtype)
    r = softmax_module._hessian_rows_inplace(
        v.astype(dtype), q, (1 / s).astype(dtype), bias.astype(dtype) if with_bias else None
    )
    scale = s.max() * np.abs(v + bias).max()
    np.testing.assert_allclose(r, want, rtol=rtol, atol=rtol * scale)
