"""Fitting and predicting on dask collections (the ``dask`` extra).

``fit`` on a ``dask.array`` (dense chunks, or scipy CSR/CSC chunks) or a
``dask.dataframe`` partitioned by rows runs the estimator's own solver on the
workers of the current ``distributed.Client``:

1. X, y and sample_weight are validated lazily (dtype, shapes; y and the
   weights rechunked to X's row chunks) and persisted once.
2. One task per chunk checks it (finite X, valid weights) and sums what the
   fit needs: the chunk's labels, and per label its weights' maximum and sum.
   The client merges these small results into the classes, the class weights
   and the weights' maximum and total, exactly as a fit in memory computes them.
3. One task per chunk cuts it into blocks (``_loss.cut_blocks``, the in-memory
   cutting and weight normalisation) on the worker that holds it, and the data
   term is those blocks under ``_engine_dask.DaskEngine``; penalty, solver and
   fitted attributes are the estimator's (``_solve``).

Predictions on dask collections are lazy ``map_blocks`` of the in-memory
methods over X's row chunks: nothing is gathered to the client.
"""

import copy
import numbers
import warnings

import dask
import dask.array as da
import numpy as np
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_array, check_is_fitted, validate_data

from ._estimator import (
    _SPARSE_FORMATS,
    _check_classes,
    _check_sample_weight,
    _check_weight_total,
    _feature_scale,
    _scale_advice,
    _unit_max,
)
from ._layout import Layout
from ._loss import SoftmaxLoss, cut_blocks
from ._penalty import ElasticNet

_NAME = "SoftmaxRegressionClassifier"


def client():
    """The current ``distributed.Client``, or an error that says what to install or start."""
    try:
        from distributed import default_client
    except ImportError as error:
        raise ImportError(
            f"Fitting {_NAME} on dask collections needs dask's distributed scheduler, "
            "which is not installed: pip install 'softmax-sk[dask]' (or pip install "
            "distributed), then start a Client."
        ) from error
    try:
        return default_client()
    except ValueError as error:
        raise RuntimeError(
            f"Fitting {_NAME} on dask collections runs on the workers of a distributed "
            "Client, and none is running: start one first, e.g. `from distributed import "
            "Client; client = Client()` for a LocalCluster on this machine, or "
            "`Client('tcp://scheduler:8786')` for a cluster (or fit in memory on "
            "X.compute())."
        ) from error


def reject_unsupported(est, y_proba, offset, fitting=True):
    """Refuse what fits and predictions on dask collections do not do yet."""
    if fitting and est.solver == "sgd":
        raise ValueError(
            "solver='sgd' runs on in-memory data only, not on dask collections: use a batch "
            "solver ('auto', 'lbfgs', 'owlqn' or 'newton-cg') on the cluster, or stream the "
            "computed chunks through partial_fit."
        )
    given = [
        name
        for name, used in (
            ("y_proba", y_proba is not None),
            ("offset", offset is not None),
            ("label_smoothing", fitting and est.label_smoothing > 0),
            ("coef_bounds", fitting and est.coef_bounds is not None),
            ("intercept_bounds", fitting and est.intercept_bounds is not None),
            ("l1_type='grouped'", fitting and est.l1_type == "grouped"),
        )
        if used
    ]
    if given:
        raise ValueError(
            f"{' and '.join(given)} {'is' if len(given) == 1 else 'are'} not supported with "
            "dask collections yet: pass labels y without them, or use in-memory data "
            "(X.compute())."
        )


def fit(est, X, y, sample_weight, callbacks=None):
    """Fit ``est`` on dask ``X`` (and ``y``, ``sample_weight``: dask collections aligned
    with it, or in-memory arrays); see the module docstring.

    scikit-learn's callbacks (``set_callbacks``) are not run on dask data: they would
    score and reconstruct the model on the collections at every iteration. A fit with
    callbacks set says so (``UserWarning``); the progress log (``verbose``) works."""
    if callbacks is not None and callbacks.active:
        warnings.warn(
            "The callbacks set with set_callbacks are not run when fitting on dask "
            "collections; verbose=1 logs the fit's progress.",
            UserWarning,
            stacklevel=5,
        )
    loss, penalty, classes, scale, X, weight = problem(est, X, y, sample_weight)
    solver = est._resolve_solver(loss.layout.size, penalty.has_l1, _is_sparse(X))
    return est._solve(
        solver,
        loss,
        penalty,
        classes,
        layout=loss.layout,
        dtype=loss.dtype,
        advice=lambda coef, intercept: _scale_advice(scale),
        callbacks=None,
        data=(X, None, None),
        weight=weight,
    )


def problem(est, X, y, sample_weight):
    """``(loss, penalty, classes, scale, X, weight)`` of a fit of ``est`` on dask data:
    the data term on the workers, the scaled penalty, the classes, the features' largest
    magnitude, X as a validated dask array and the rows' total weight. Sets ``n_features_in_`` (and
    ``feature_names_in_``) on ``est``."""
    dask_client = client()  # first: says what to install when distributed is missing
    from ._engine_dask import DaskEngine  # imports distributed

    X, meta = _matrix(X, lengths=True)
    validate_data(est, meta, reset=True, skip_check_array=True)  # n_features_in_, names
    y = _vector(y, X, "y")
    sw = None if sample_weight is None else _vector(sample_weight, X, "sample_weight")
    persisted = dask_client.persist([X, y] if sw is None else [X, y, sw])
    pieces = [list(c.to_delayed(optimize_graph=False).ravel()) for c in persisted]
    if sw is None:
        pieces.append([None] * len(pieces[0]))
    chunks = [c for c, rows in zip(zip(*pieces, strict=True), X.chunks[0], strict=True) if rows > 0]
    if not chunks:
        raise ValueError(f"X has no rows (shape {X.shape}); {_NAME} needs samples to fit.")
    stats = dask_client.gather(dask_client.compute([_summary(*chunk) for chunk in chunks]))
    classes, sw_scale, totals, class_max, scale = _merge(stats)

    class_weight, cw_scale = _unit_max(est._class_weights(classes, totals))
    weight_total = float(class_weight @ totals)
    _check_weight_total(weight_total)
    top = float(np.max(class_max / sw_scale * class_weight))  # the largest row weight
    layout = Layout(X.shape[1], classes.size, bool(est.fit_intercept))
    norms = (classes, sw_scale, class_weight, top, weight_total / top, layout)
    blocks = dask_client.compute([_cut(*chunk, *norms) for chunk in chunks])
    del persisted, chunks  # the blocks hold the chunks now (and recompute them if lost)

    loss = SoftmaxLoss.on_blocks(blocks, DaskEngine(dask_client), layout, X.dtype)
    penalty = ElasticNet.from_totals(
        est.C,
        est.l1_ratio,
        top,
        weight_total / top,
        layout.penalized(),
        scales=(sw_scale, cw_scale),
    )
    return loss, penalty, classes, scale, X, weight_total * sw_scale * cw_scale


def predict(est, method, X):
    """``est.<method>(X)`` on dask X, lazily: one in-memory call per row chunk."""
    check_is_fitted(est)
    X, meta = _matrix(X, lengths=False)
    validate_data(est, meta, reset=False, skip_check_array=True)  # n_features, names
    unnamed = copy.copy(est)  # names were checked on X's columns; chunks have none
    unnamed.__dict__.pop("feature_names_in_", None)
    probe = getattr(unnamed, method)(np.zeros((1, X.shape[1]), dtype=X.dtype))
    out_meta = np.empty((0,) * probe.ndim, dtype=probe.dtype)
    if probe.ndim == 1:
        return X.map_blocks(_call, unnamed, method, drop_axis=1, meta=out_meta)
    return X.map_blocks(
        _call, unnamed, method, chunks=(X.chunks[0], probe.shape[1:]), meta=out_meta
    )


def _call(x, est, method):
    if x.shape[0] == 0:  # a chunk emptied by a filter: no rows to validate, an empty result
        return getattr(est, method)(np.zeros((1, x.shape[1]), dtype=x.dtype))[:0]
    return getattr(est, method)(x)


# -- validation (lazy) -------------------------------------------------------------------
def _matrix(X, lengths):
    """``(X, meta)``: X as a 2-D float dask array in one column chunk (known row chunks
    with ``lengths``), and an empty in-memory stand-in with X's columns for the
    estimator's feature checks."""
    meta = None
    if hasattr(X, "to_dask_array"):  # a dask DataFrame (or Series)
        if X.ndim != 2:
            raise ValueError(
                f"X is a dask {type(X).__name__}; pass a dask DataFrame (2-D), e.g. X.to_frame()."
            )
        meta, X = X._meta, X.to_dask_array(lengths=True if lengths else None)
    if not isinstance(X, da.Array):
        raise TypeError(
            f"X is a {type(X).__module__}.{type(X).__name__}; {_NAME} takes a dask.array "
            "or a dask.dataframe partitioned by rows (or an in-memory array)."
        )
    if X.ndim != 2:
        raise ValueError(f"Expected a 2-D X of shape (n_samples, n_features), got {X.shape}.")
    if X.dtype not in (np.float64, np.float32):
        if X.dtype.kind not in "biuf":
            raise TypeError(f"X has dtype {X.dtype}; {_NAME} needs numeric features.")
        X = X.astype(np.float64)
    if lengths and any(np.isnan(c) for c in X.chunks[0]):
        X = X.compute_chunk_sizes()
    if X.numblocks[1] > 1:
        X = X.rechunk({1: -1})
    return X, (np.empty((0, X.shape[1]), X.dtype) if meta is None else meta)


def _vector(v, X, name):
    """``v`` (y or sample_weight) as a 1-D dask array with X's row chunks."""
    if isinstance(v, numbers.Number) and name == "sample_weight":
        return da.full(X.shape[0], float(v), chunks=(X.chunks[0],))
    if hasattr(v, "to_dask_array"):
        v = v.to_dask_array(lengths=True)
    elif not isinstance(v, da.Array):
        v = np.asarray(v)
        v = da.from_array(v, chunks=(X.chunks[0],) if v.shape[:1] == X.shape[:1] else -1)
    if v.ndim == 2 and v.shape[1] == 1:
        v = v[:, 0]
    if v.ndim != 1:
        raise ValueError(
            f"{name} has shape {v.shape}, but {_NAME} needs a 1-D {name} "
            f"(one {'label' if name == 'y' else 'weight'} per sample)."
        )
    if any(np.isnan(c) for c in v.chunks[0]):
        v = v.compute_chunk_sizes()
    if v.shape[0] != X.shape[0]:
        raise ValueError(f"{name} has {v.shape[0]} samples, but X has {X.shape[0]}.")
    if name == "sample_weight":
        if v.dtype.kind not in "biuf":
            raise TypeError(f"sample_weight must be numeric, got dtype {v.dtype}.")
        v = v.astype(np.float64)
    return v.rechunk((X.chunks[0],)) if v.chunks[0] != X.chunks[0] else v


def _is_sparse(X):
    import scipy.sparse as sp

    return sp.issparse(X._meta)


# -- per chunk, on the workers -----------------------------------------------------------
def _checked(x, check_finite):
    return check_array(
        x,
        accept_sparse=_SPARSE_FORMATS,
        dtype=None,
        ensure_all_finite=check_finite,
        ensure_min_samples=0,
        input_name="X",
        estimator=_NAME,
    )


def _weights(w, n):
    return np.ones(n) if w is None else _check_sample_weight(np.asarray(w), n)


@dask.delayed(pure=True)
def _summary(x, y, w):
    """The chunk checked, and ``(labels, top, sums, maxima, scale)``: its labels, its
    largest weight, per label the sum of weights / ``top`` and the largest weight,
    and the largest magnitude of its features."""
    x = _checked(x, check_finite=True)
    w = _weights(w, x.shape[0])
    labels, inverse = np.unique(np.asarray(y), return_inverse=True)
    top = float(w.max(initial=0.0))
    sums = np.bincount(inverse, weights=w / top if top > 0 else w, minlength=labels.size)
    maxima = np.zeros(labels.size)
    np.maximum.at(maxima, inverse, w)
    return labels, top, sums, maxima, _feature_scale(x)


def _merge(stats):
    """``(classes, sw_scale, totals, class_max, scale)`` of all chunks' summaries: the
    class totals of ``sample_weight / sw_scale`` (``sw_scale``: the largest weight)
    and the classes' largest weights."""
    classes = np.unique(np.concatenate([labels for labels, *_ in stats]))
    with warnings.catch_warnings():  # its "many classes for few samples" counts these alone
        warnings.simplefilter("ignore", UserWarning)
        check_classification_targets(classes)  # refuses continuous labels
    _check_classes(classes)
    sw_scale = max(top for _, top, *_ in stats)
    if not sw_scale > 0:
        _check_weight_total(0.0)
    totals, class_max = np.zeros(classes.size), np.zeros(classes.size)
    for labels, top, sums, maxima, _ in stats:
        at = np.searchsorted(classes, labels)
        totals[at] += sums * (top / sw_scale)
        class_max[at] = np.maximum(class_max[at], maxima)
    return classes, sw_scale, totals, class_max, max(scale for *_, scale in stats)


@dask.delayed(pure=True)
def _cut(x, y, w, classes, sw_scale, class_weight, top, total, layout):
    """The chunk's blocks, its weights ``sample_weight / sw_scale * class_weight[y]``
    normalised by the data set's ``top`` and ``total`` as in memory."""
    x = _checked(x, check_finite=False)
    y_idx = np.searchsorted(classes, np.asarray(y))
    weights = _weights(w, x.shape[0]) / sw_scale * class_weight[y_idx]
    return cut_blocks(x, y_idx, weights, layout, top, total)[0]
