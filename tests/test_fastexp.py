"""The compiled float64 exp against numpy's (libm's) exp, and the fits it speeds up.

``softmax_sk._fastexp`` is optional (built where a C compiler is found); these
tests skip without it, and the fallback is covered by every other test.
"""

import numpy as np
import pytest

import softmax_sk._softmax as softmax_module
from softmax_sk import SoftmaxRegressionClassifier

fastexp = pytest.importorskip("softmax_sk._fastexp", reason="compiled exp not built")


def fast(x):
    out = np.array(x, dtype=np.float64)
    fastexp.exp_inplace(out)
    return out


def ulps(got, want):
    """Distance in units of the last place of ``want`` (subnormal spacing included)."""
    return np.abs(got - want) / np.spacing(want)


@pytest.mark.parametrize(
    "low, high",
    [
        (-745.2, 0.0),
        (-40.0, 0.0),
        (-1e-3, 1e-3),
        (-1e-300, 1e-300),
        (0.0, 709.78),
        (-708.5, -700.0),
    ],
)
def test_within_one_ulp_of_libm(low, high):
    x = np.random.default_rng(0).uniform(low, high, size=200_000)
    want = np.exp(x)
    got = fast(x)
    assert ulps(got, want).max() <= 1.0


def test_special_values_and_thresholds():
    x = np.array([0.0, -0.0, -np.inf, np.inf, np.nan, -745.14, -745.13, -708.4, 709.78, 709.79])
    with np.errstate(over="ignore"):
        want = np.exp(x)
    got = fast(x)
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    finite = np.isfinite(want)
    np.testing.assert_array_equal(got[~finite & ~np.isnan(want)], want[~finite & ~np.isnan(want)])
    assert ulps(got[finite & (want > 0)], want[finite & (want > 0)]).max() <= 1.0
    assert got[5] == 0.0 and got[6] == 5e-324  # the last subnormal, and past it


@pytest.mark.parametrize("n", range(0, 21))
def test_every_length_is_complete(n):
    # The vectorised loop handles the remainder separately: no entry may be skipped.
    x = -np.arange(n, dtype=np.float64) / 3
    assert ulps(fast(x), np.exp(x)).max(initial=0.0) <= 1.0


@pytest.mark.parametrize(
    "bad",
    [
        np.zeros(4, dtype=np.float32),
        np.zeros((4, 4))[:, ::2],  # not contiguous
        np.zeros(4, dtype=np.int64),
    ],
)
def test_rejects_what_it_cannot_overwrite_in_place(bad):
    before = bad.copy()
    with pytest.raises((TypeError, ValueError, BufferError)):
        fastexp.exp_inplace(bad)
    np.testing.assert_array_equal(bad, before)


def test_rejects_read_only_buffers():
    x = np.zeros(3)
    x.flags.writeable = False
    with pytest.raises((TypeError, ValueError, BufferError)):
        fastexp.exp_inplace(x)
    with pytest.raises((TypeError, ValueError, BufferError)):
        fastexp.exp_inplace(b"12345678")


def test_fit_is_the_same_with_numpy_exp(monkeypatch):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(600, 5))
    y = rng.integers(0, 4, size=600)
    model = SoftmaxRegressionClassifier(tol=1e-10).fit(X, y)
    monkeypatch.setattr(softmax_module, "_fast_exp", None)
    reference = SoftmaxRegressionClassifier(tol=1e-10).fit(X, y)
    np.testing.assert_allclose(model.coef_, reference.coef_, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(model.predict_proba(X), reference.predict_proba(X), rtol=1e-12)


def test_softmax_kernel_uses_it(monkeypatch):
    # The float64 kernel must actually call the compiled exp (or it buys nothing).
    calls = []

    def spy(z):
        calls.append(z.shape)
        fastexp.exp_inplace(z)

    monkeypatch.setattr(softmax_module, "_fast_exp", spy)
    z = np.random.default_rng(1).normal(size=(5, 3))
    p = z.copy()
    softmax_module._softmax_inplace(p, reference=False)
    assert calls == [(5, 3)]
    np.testing.assert_allclose(p, np.exp(z) / np.exp(z).sum(axis=1, keepdims=True), rtol=1e-14)
