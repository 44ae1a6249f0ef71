"""softmax / log_softmax / logsumexp against scipy.special, on random and extreme inputs."""

import numpy as np
import pytest
import scipy.special
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from softmax_sk import log_softmax, logsumexp, softmax
from softmax_sk._softmax import _softmax_inplace


@pytest.mark.parametrize("dtype, rtol", [(np.float64, 1e-13), (np.float32, 1e-5)])
def test_matches_scipy_on_random_logits(dtype, rtol):
    z = np.random.default_rng(0).normal(scale=30, size=(50, 7)).astype(dtype)
    np.testing.assert_allclose(softmax(z), scipy.special.softmax(z, axis=-1), rtol=rtol, atol=1e-30)
    np.testing.assert_allclose(log_softmax(z), scipy.special.log_softmax(z, axis=-1), rtol=rtol)
    np.testing.assert_allclose(logsumexp(z), scipy.special.logsumexp(z, axis=-1), rtol=rtol)
    assert softmax(z).dtype == dtype and log_softmax(z).dtype == dtype


def test_axis_argument():
    z = np.random.default_rng(1).normal(size=(4, 5))
    np.testing.assert_allclose(softmax(z, axis=0), scipy.special.softmax(z, axis=0))
    np.testing.assert_allclose(logsumexp(z, axis=0), scipy.special.logsumexp(z, axis=0))


def test_empty_reductions_and_integer_or_boolean_logits_as_scipy():
    """An empty axis used to fail in np.max ('zero-size array'), and boolean logits in
    the subtraction; scipy's logsumexp gives -inf for an empty sum and reads booleans
    and integers as numbers."""
    import warnings

    special = scipy.special
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no divide-by-zero warning for the empty sums
        for z, axis in [(np.empty(0), -1), (np.empty((3, 0)), -1), (np.empty((0, 3)), 0)]:
            np.testing.assert_array_equal(logsumexp(z, axis), special.logsumexp(z, axis=axis))
            assert softmax(z, axis).shape == log_softmax(z, axis).shape == z.shape
    for z in [np.array([[True, False, True]]), np.array([[1, 2, 3], [-4, 0, 2**40]])]:
        as_float = z.astype(np.float64)
        np.testing.assert_allclose(logsumexp(z), special.logsumexp(as_float, axis=-1))
        np.testing.assert_allclose(softmax(z), special.softmax(as_float, axis=-1))
        np.testing.assert_allclose(log_softmax(z), special.log_softmax(as_float, axis=-1))
        assert logsumexp(z).dtype == np.float64
    # every axis at once, or a tuple of them; an empty array's sum on its own device
    z = np.array([[1.0, 2.0], [3.0, 4.0]])
    assert logsumexp(z, axis=None) == pytest.approx(special.logsumexp(z))
    assert logsumexp(z, axis=(0, 1)) == pytest.approx(special.logsumexp(z))
    assert logsumexp(np.empty((2, 0)), axis=None) == -np.inf
    xps = pytest.importorskip("array_api_strict")
    device = xps.Device("device1")
    empty = logsumexp(xps.zeros((2, 0), device=device))
    assert empty.device == device and empty.shape == (2,)


@pytest.mark.parametrize("scale", [1e300, -1e300, 1e-300, 1e308])
def test_extreme_logits_give_finite_normalised_output(scale):
    z = np.array([[1.0, -1.0, 0.5], [0.0, 0.0, 0.0], [1.0, 1.0, -1.0]]) * scale
    p = softmax(z)
    assert np.all(np.isfinite(p)) and np.all(p >= 0)
    np.testing.assert_allclose(p.sum(axis=1), 1.0)
    assert np.all(np.isfinite(logsumexp(z)))
    # log_softmax is -inf only where the difference itself overflows.
    ls = log_softmax(z)
    assert not np.any(np.isnan(ls))


def test_log_softmax_is_finite_where_softmax_underflows():
    z = np.array([0.0, 700.0])
    assert softmax(z)[0] == 0.0 or softmax(z)[0] < 1e-300
    np.testing.assert_allclose(log_softmax(z), [-700.0, 0.0], rtol=1e-15)


def test_reference_class_kernel_matches_explicit_zero_column():
    z = np.random.default_rng(2).normal(scale=50, size=(20, 3))
    full = np.column_stack([np.zeros(20), z])
    p = z.copy()
    lse = _softmax_inplace(p, reference=True)
    # Absolute rounding: where the reference dominates, log(1 + 1e-33) rounds to 0.
    np.testing.assert_allclose(lse, scipy.special.logsumexp(full, axis=1), rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(
        p, scipy.special.softmax(full, axis=1)[:, 1:], rtol=1e-12, atol=1e-300
    )


@settings(max_examples=60, deadline=None)
@given(
    arrays(
        dtype=np.float64,
        shape=st.tuples(st.integers(1, 6), st.integers(1, 6)),
        elements=st.floats(-1e6, 1e6),
    ),
    st.sampled_from([1e-300, 1.0, 1e8, 1e30, 1e290]),
    st.sampled_from([np.float32, np.float64]),
)
def test_property_finite_and_normalised(z, scale, dtype):
    z = z * scale
    # float32 saturates at its largest finite value rather than becoming inf.
    big = np.finfo(dtype).max
    z = np.clip(z, -big, big).astype(dtype)
    p = softmax(z)
    assert p.dtype == z.dtype and p.shape == z.shape
    assert np.all(np.isfinite(p)) and np.all((p >= 0) & (p <= 1))
    np.testing.assert_allclose(p.sum(axis=-1), 1.0, rtol=1e-5)
    assert np.all(np.isfinite(logsumexp(z))) or np.any(np.abs(z) >= big / 2)
    ls = log_softmax(z)
    assert not np.any(np.isnan(ls)) and np.all(ls <= 0)
