"""Box constraints on the coefficients: validation, layout, and their subgradient.

``coef_bounds=(lower, upper)`` bounds ``coef_`` entry by entry and
``intercept_bounds=(lower, upper)`` bounds ``intercept_``, each side a scalar or
an array that broadcasts to the attribute's shape, ``-np.inf``/``np.inf`` for no
bound. A bound is on the parameter as the model exposes it:

* two classes: ``coef_`` has one row, the coefficients of ``classes_[1]``
  against the reference ``classes_[0]`` (whose logit is fixed at 0), so a bound
  is on the log-odds coefficient, as in binary logistic regression (Spark's
  ``lowerBoundsOnCoefficients`` of shape ``(1, n_features)``);
* more classes: ``coef_[c]`` is class ``c``'s own coefficients in the
  symmetric parameterisation, made unique by the penalty. A softmax does not
  change when the same vector is added to every class, and without bounds the
  L2 penalty picks coefficients that sum to zero over the classes; with bounds
  it picks the smallest within the box, which need not sum to zero. Pinning
  one class to zero (``lower[c] = upper[c] = 0``, intercept too) turns the fit
  into the reference-class parameterisation with ``c`` as reference.

Bounds are rounded inward to the data's dtype (float32 data gives float32
``coef_``), so coefficients that end on a bound equal it exactly and never
leave the box.
"""

import numpy as np


def flat_bounds(coef_bounds, intercept_bounds, layout, dtype):
    """``(lower, upper)``: flat float64 bounds in ``layout``'s order, or None when
    there are none (both ``None``, or every bound infinite)."""
    if coef_bounds is None and intercept_bounds is None:
        return None
    if intercept_bounds is not None and not layout.fit_intercept:
        raise ValueError(
            "intercept_bounds is set but fit_intercept=False, so there is no intercept "
            "to bound: set intercept_bounds=None or fit_intercept=True."
        )
    k = layout.k
    coef = _sides(coef_bounds, "coef_bounds", (k, layout.n_features), layout.reference)
    inter = _sides(intercept_bounds, "intercept_bounds", (k,), layout.reference)
    lower = layout.pack(coef[0], inter[0])
    upper = layout.pack(coef[1], inter[1])
    if np.all(np.isneginf(lower)) and np.all(np.isposinf(upper)):
        return None
    return _round_inward(lower, upper, dtype)


def fixes_a_sign(coef_bounds):
    """Whether ``coef_bounds`` forbids some coefficient one of the two signs (a lower
    bound >= 0 or an upper bound <= 0); False for bounds that are not a valid pair."""
    try:
        lower, upper = (np.asarray(side, dtype=np.float64) for side in coef_bounds)
        return bool(np.any(lower >= 0) or np.any(upper <= 0))
    except (TypeError, ValueError):
        return False


def _sides(bounds, name, shape, reference):
    if bounds is None:
        return np.full(shape, -np.inf), np.full(shape, np.inf)
    if not (isinstance(bounds, tuple | list) and len(bounds) == 2):
        raise ValueError(
            f"{name} must be None or a pair (lower, upper), got {bounds!r}: pass e.g. "
            f"{name}=(0, np.inf) for non-negative values."
        )
    attribute = "coef_" if name == "coef_bounds" else "intercept_"
    sides = []
    for side, value in zip(("lower", "upper"), bounds, strict=True):
        try:
            array = np.asarray(value, dtype=np.float64)
        except (TypeError, ValueError) as error:
            raise ValueError(f"{name}: the {side} bound must be numeric, got {value!r}.") from error
        try:
            array = np.broadcast_to(array, shape)
        except ValueError:
            note = (
                " (two classes: one row, the coefficients of classes_[1] against classes_[0])"
                if reference
                else ""
            )
            raise ValueError(
                f"{name}: the {side} bound has shape {array.shape}, which does not broadcast "
                f"to the shape of {attribute}, {shape}{note}: pass a scalar or an array of "
                f"that shape."
            ) from None
        if np.isnan(array).any():
            raise ValueError(f"{name}: the {side} bound contains NaN; use -np.inf/np.inf for none.")
        sides.append(array)
    lower, upper = sides
    bad = ~(lower <= upper) | np.isposinf(lower) | np.isneginf(upper)
    if bad.any():
        at = tuple(int(i) for i in np.argwhere(bad)[0])
        raise ValueError(
            f"{name}: at {attribute}{list(at)} the bounds are lower={lower[at]!r}, "
            f"upper={upper[at]!r}, which no finite value satisfies: each lower bound must "
            "be <= its upper bound, below +inf, and each upper bound above -inf."
        )
    return lower, upper


def _round_inward(lower, upper, dtype):
    """Bounds representable in ``dtype``: lower rounded up, upper down (to the
    nearest where no ``dtype`` value lies between them)."""
    if np.dtype(dtype) == np.float64:
        return lower, upper
    lo = lower.astype(dtype)
    hi = upper.astype(dtype)
    with np.errstate(over="ignore", invalid="ignore"):
        lo = np.where(lo < lower, np.nextafter(lo, np.asarray(np.inf, dtype)), lo)
        hi = np.where(hi > upper, np.nextafter(hi, np.asarray(-np.inf, dtype)), hi)
    empty = lo > hi
    lo[empty] = hi[empty] = lower[empty].astype(dtype)
    return lo.astype(np.float64), hi.astype(np.float64)


def min_norm_subgradient(w, grad, l1, lower, upper):
    """The minimum-norm element of ``grad + l1 * d|w| + N(w)`` entry by entry, with
    ``N`` the normal cone of the box ``[lower, upper]``: each entry's set is an
    interval ``[a, b]`` (infinite on the side a bound blocks), and its element
    closest to 0 is 0 clipped to it. Without L1 this is the projected gradient."""
    nonzero = w != 0
    a = np.where(nonzero, grad + l1 * np.sign(w), grad - l1)
    b = np.where(nonzero, grad + l1 * np.sign(w), grad + l1)
    a[w <= lower] = -np.inf
    b[w >= upper] = np.inf
    return np.minimum(np.maximum(0.0, a), b)
