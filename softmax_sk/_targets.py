"""What the estimator fits to besides labels: probability targets, label smoothing, offsets.

Validation of ``y_proba`` and ``offset`` and the one definition of how class
weights act on a target distribution, kept out of the estimator.

Class weights with a target distribution ``t_i``: each class's share of the
loss is weighed, ``sum_k cw_k t_ik CE_ik`` with ``CE_ik = logsumexp(z_i) - z_ik``
(PyTorch's ``CrossEntropyLoss(weight=...)`` with probability targets does the
same). That is ``c_i (logsumexp(z_i) - <u_i, z_i>)`` with the row weight
``c_i = <t_i, cw>`` and the reweighted target ``u_i = cw * t_i / c_i``, so the
data term keeps its form. It agrees with labels for one-hot rows, and with
replication: a row of probabilities ``m_k / M`` weighs what ``M`` rows of the
matching labels, each of weight ``1 / M``, weigh. ``'balanced'`` counts
each class's total target mass, ``sum_i w_i t_ik``.
"""

from typing import NamedTuple

import numpy as np
import scipy.sparse as sp


class Targets(NamedTuple):
    """What the data term is fitted to: row weights and labels or target distributions."""

    weights: np.ndarray  # s_i: sample weight times the row's class weight
    y: np.ndarray  # (n,) class indices, or (n, K) target distributions
    smoothing: float  # label smoothing still to apply to the class indices (0 if done)


def proba_tolerance(dtype, n_classes):
    """How far from 1 a row of ``y_proba`` may sum: 1e-6, more for a float32 row of many classes."""
    return max(1e-6, 8 * n_classes * float(np.finfo(dtype).eps))


def check_y_proba(y_proba, n_samples):
    """``(classes, Y)``: the validated targets as float64 rows that sum to 1.

    ``classes`` is ``arange(K)``, or the column labels of a pandas DataFrame,
    sorted as scikit-learn's ``classes_`` always are (metrics and calibration
    read ``predict_proba``'s columns in sorted label order), with ``Y``'s
    columns in the same order.
    """
    columns = getattr(y_proba, "columns", None)
    if sp.issparse(y_proba):
        y_proba = y_proba.toarray()
    Y = np.asarray(y_proba)
    if Y.dtype.kind not in "biuf":
        raise TypeError(f"y_proba must be numeric, got dtype {Y.dtype}.")
    if Y.ndim != 2 or Y.shape[0] != n_samples or Y.shape[1] < 2:
        raise ValueError(
            f"y_proba has shape {Y.shape}, but it must be (n_samples, n_classes) = "
            f"({n_samples}, K) with K >= 2: one row of class probabilities per sample of X."
        )
    dtype = Y.dtype if Y.dtype.kind == "f" else np.float64
    Y = Y.astype(np.float64)
    if not np.all(np.isfinite(Y)):
        raise ValueError("y_proba contains NaN or infinity; probabilities must be finite.")
    if np.any(Y < 0):
        raise ValueError("y_proba contains negative values; probabilities must be >= 0.")
    sums = Y.sum(axis=1)
    tol = proba_tolerance(dtype, Y.shape[1])
    bad = np.flatnonzero(np.abs(sums - 1.0) > tol)
    if bad.size:
        raise ValueError(
            f"Each row of y_proba must sum to 1 (within {tol:.3g}), but row {bad[0]} sums to "
            f"{sums[bad[0]]!r} ({bad.size} rows in all). Divide each row by its sum first "
            "if the rows are counts or unnormalised scores."
        )
    Y = Y / sums[:, None]
    held = np.flatnonzero(Y.sum(axis=0) > 0)
    if held.size < 2:
        raise ValueError(
            f"y_proba puts all its probability on one class (column "
            f"{int(held[0]) if columns is None else list(columns)[held[0]]!r}): softmax "
            "regression needs samples of at least 2 classes, as with labels."
        )
    if columns is None:
        return np.arange(Y.shape[1]), Y
    classes = np.asarray(columns)
    try:
        order = np.argsort(classes, kind="stable")
    except TypeError as error:
        raise TypeError(
            f"y_proba's column labels must be sortable (all strings or all numbers), got "
            f"{list(columns)}."
        ) from error
    classes = classes[order]
    if np.any(classes[1:] == classes[:-1]):
        raise ValueError(f"y_proba's column labels must be distinct, got {list(columns)}.")
    return classes, Y[:, order]


def check_offset(offset, n_samples, n_classes, dtype):
    """The offset as an ``(n_samples, n_classes)`` array of ``dtype``, or None.

    Shape ``(n,)`` only for two classes: it is added to the logit of
    ``classes_[1]`` against ``classes_[0]`` (the linear predictor of binary
    logistic regression, as statsmodels' and glum's ``offset``).
    """
    if offset is None:
        return None
    if sp.issparse(offset):
        offset = offset.toarray()
    o = np.asarray(offset)
    if o.dtype.kind not in "biuf":
        raise TypeError(f"offset must be numeric, got dtype {o.dtype}.")
    if o.ndim == 1 and n_classes == 2 and o.shape[0] == n_samples:
        o = np.column_stack([np.zeros(n_samples), o])
    elif o.ndim == 1 and o.shape[0] == n_samples:
        raise ValueError(
            f"A 1-D offset is defined for two classes only (added to the logit of "
            f"classes_[1]); with {n_classes} classes pass one column per class, shape "
            f"({n_samples}, {n_classes}), in the order of classes_."
        )
    if o.shape != (n_samples, n_classes):
        expected = f"({n_samples},) or " if n_classes == 2 else ""
        raise ValueError(
            f"offset has shape {o.shape}, but X has {n_samples} samples and the model "
            f"{n_classes} classes: pass shape {expected}({n_samples}, {n_classes})."
        )
    with np.errstate(over="ignore"):
        o = o.astype(dtype)
    if not np.all(np.isfinite(o)):
        raise ValueError(
            f"offset contains NaN or infinity (or values beyond the range of {np.dtype(dtype)}, "
            "the data's dtype); offsets must be finite."
        )
    return o


def class_totals(y_idx, Y, sample_weight, n_classes, smoothing):
    """Each class's total (smoothed) target mass ``sum_i w_i t_ik``, for ``'balanced'``."""
    if Y is not None:
        totals = Y.T @ sample_weight
    else:
        totals = np.bincount(y_idx, weights=sample_weight, minlength=n_classes)
    return (1.0 - smoothing) * totals + smoothing / n_classes * totals.sum()


def resolve(y_idx, Y, n_classes, sample_weight, class_weight, smoothing):
    """The ``Targets`` of labels ``y_idx`` or distributions ``Y`` (the other None).

    Labels stay labels (the fast path, smoothing left to the data term) unless
    smoothing meets unequal class weights, which need the dense smoothed targets.
    """
    if Y is None:
        uniform = np.all(class_weight == class_weight[0])
        if not smoothing or uniform:
            return Targets(sample_weight * class_weight[y_idx], y_idx, float(smoothing))
        Y = np.zeros((y_idx.size, n_classes))
        Y[np.arange(y_idx.size), y_idx] = 1.0
    if smoothing:
        Y = (1.0 - smoothing) * Y + smoothing / n_classes
    row = Y @ class_weight
    U = np.divide(Y * class_weight, row[:, None], out=Y.copy(), where=row[:, None] > 0)
    return Targets(sample_weight * row, U, 0.0)


def add_offset(z, row_scale, offset):
    """Logits ``z`` (n, K) of ``Layout.logits`` with ``offset`` (n, K) added.

    Where ``row_scale`` holds the scale of overflowing rows (the true logits
    are ``row_scale * z``), the offset is added as ``offset / row_scale``.
    """
    if offset is None:
        return z
    if row_scale is not None:
        offset = offset / row_scale[:, None]
    with np.errstate(over="ignore"):
        out = z + offset
    return out if np.isfinite(out).all() else z.astype(np.float64) + offset


def refuse_for_inference(fitted_with):
    """Raise if the fit was not to one observed label per row (``inference()`` assumes it)."""
    what = [
        name
        for name, used in (
            ("probability targets (y_proba)", fitted_with.get("y_proba", False)),
            ("an offset", fitted_with.get("offset", False)),
            ("label_smoothing > 0", fitted_with.get("label_smoothing", 0.0) > 0),
        )
        if used
    ]
    if what:
        raise ValueError(
            f"inference() needs a model fitted to class labels, but this one was fitted with "
            f"{' and '.join(what)}: its standard errors would be those of another likelihood. "
            "Refit on the labels (C=np.inf, label_smoothing=0, no offset) to get them."
        )
