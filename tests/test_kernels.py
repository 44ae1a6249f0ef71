"""The compiled kernels (exp, fused softmax rows, Hessian rows) against independent references.

``softmax_sk._kernels`` is optional (built where a C compiler is found); these
tests skip without it, and the numpy fallback is covered by every other test
(and compared with the kernels here).
"""

import numpy as np
import pytest
from scipy.special import logsumexp, softmax

import softmax_sk._softmax as softmax_module
from softmax_sk import SoftmaxRegressionClassifier

kernels = pytest.importorskip("softmax_sk._kernels", reason="compiled kernels not built")


def fast_exp(x, dtype):
    out = np.array(x, dtype=dtype)
    kernels.exp_inplace(out)
    return out


def ulps(got, want):
    """Distance in units of the last place of ``want`` (subnormal spacing included)."""
    return np.abs(got.astype(np.float64) - want) / np.spacing(want)


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


def test_exp_rejects_what_it_cannot_overwrite_in_place():
    for bad in [np.zeros((4, 4))[:, ::2], np.zeros(4, dtype=np.int64), b"12345678"]:
        with pytest.raises((TypeError, ValueError, BufferError)):
            kernels.exp_inplace(bad)
    x = np.zeros(3)
    x.flags.writeable = False
    with pytest.raises((TypeError, ValueError, BufferError)):
        kernels.exp_inplace(x)


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
