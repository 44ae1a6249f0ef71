"""Where the estimator's arrays live: NumPy on the host, or another array-API namespace.

With ``sklearn.set_config(array_api_dispatch=True)`` dense X of any array-API
library (PyTorch on CPU or CUDA, CuPy, ``array_api_strict``) is fitted and
predicted where it lives, and ``coef_``, ``intercept_`` and ``n_iter_`` are
stored in its namespace and on its device; ``classes_`` follows ``y``, as in
scikit-learn's ``LogisticRegression``. Labels and sample weights (one number
per row) are handled on the host. Sparse X has no array-API namespace and
takes the NumPy path, as in scikit-learn.

Without dispatch, scikit-learn converts inputs with ``np.asarray``: a PyTorch
CPU tensor becomes a NumPy array (as ``LogisticRegression`` does) and the
model is a NumPy one. An array NumPy cannot read (a CUDA tensor, a CuPy array,
an ``array_api_strict`` array) raises a ``TypeError`` that says how to enable
dispatch, instead of the library's own conversion error.
"""

import numpy as np
import scipy.sparse as sp
from sklearn import get_config
from sklearn.externals.array_api_compat import is_array_api_obj
from sklearn.utils._array_api import (
    _is_numpy_namespace,
    _matching_numpy_dtype,
    get_namespace,
    get_namespace_and_device,
    move_to,
)

_DTYPES = [np.float64, np.float32]


def _is_foreign(a):
    """Whether ``a`` is an array of an array-API library other than NumPy."""
    return is_array_api_obj(a) and not isinstance(a, np.ndarray | np.generic) and not sp.issparse(a)


def input_namespace(X, *others):
    """``(xp, device)`` of X when it is computed on where it lives, else ``(None, None)``.

    ``(None, None)`` means the NumPy path (dispatch off, or X a NumPy array,
    a list, a DataFrame or a sparse matrix). With dispatch off, an input of
    ``X`` or ``others`` that NumPy cannot read raises a ``TypeError`` saying how
    to enable dispatch.
    """
    if not get_config()["array_api_dispatch"]:
        for name, a in zip(("X", "y", "sample_weight"), (X, *others), strict=False):
            _check_numpy_can_read(name, a)
        return None, None
    xp, _, device = get_namespace_and_device(X)
    return (None, None) if _is_numpy_namespace(xp) else (xp, device)


def _check_numpy_can_read(name, a):
    if not _is_foreign(a):
        return
    try:
        np.asarray(a[:0, ...] if getattr(a, "ndim", 0) else a)
    except Exception as exc:  # each library raises its own type (TypeError, RuntimeError)
        library = type(a).__module__.split(".")[0]
        raise TypeError(
            f"{name} is a {library} array on device {getattr(a, 'device', '?')!s}, which "
            "NumPy cannot read, and scikit-learn's array API dispatch is off. To fit and "
            "predict where the data lives, enable it: sklearn.set_config("
            "array_api_dispatch=True) (or `with sklearn.config_context("
            "array_api_dispatch=True):`; SciPy also needs the environment variable "
            "SCIPY_ARRAY_API=1 set before it is imported). Or pass a NumPy array. "
            f"({type(exc).__name__}: {exc})"
        ) from exc


def float_dtypes(xp):
    """The dtypes ``validate_data`` may keep (float64 first: what others convert to)."""
    return _DTYPES if xp is None else [xp.float64, xp.float32]


def numpy_dtype(X, xp):
    """The NumPy dtype of X's (its own, for a NumPy X)."""
    return X.dtype if xp is None else np.dtype(_matching_numpy_dtype(X, xp=xp))


def to_host(a):
    """``a`` as NumPy on the host when it is another library's array; anything else as it is."""
    if not _is_foreign(a):
        return a
    return np.asarray(move_to(a, xp=np, device="cpu"))


def to_device(arrays, xp, device):
    """The NumPy ``arrays`` moved to namespace ``xp`` on ``device`` (unchanged for None)."""
    if xp is None:
        return arrays
    return tuple(xp.asarray(a, device=device) for a in arrays)


def like(a, reference):
    """``a`` (NumPy) in ``reference``'s namespace and device, when that is another library's
    and ``a`` is numeric (labels may be strings, which only NumPy holds)."""
    if not _is_foreign(reference) or a.dtype.kind not in "biuf":
        return a
    xp, _, device = get_namespace_and_device(reference)
    return xp.asarray(a, device=device)


def device_loss(X, y, weights, layout, xp, device):
    """The data term of a fit on X's device (``_xp_loss``); y and weights on the host."""
    from ._xp_loss import ArrayAPILoss

    return ArrayAPILoss(X, y, weights, layout, xp=xp, device=device, dtype=numpy_dtype(X, xp))


def logits(layout, X, coef, intercept):
    """``layout.logits`` computed where X lives: ``(z, row_scale)`` (see ``_layout``).

    On a device, ``z`` is one matrix product; logits that overflow (features
    near float's range) are rare, and then the host path scales them and the
    results are moved back.
    """
    if not _is_foreign(X):
        if _is_foreign(coef):
            raise ValueError(
                f"This model was fitted on {type(coef).__module__.split('.')[0]} arrays "
                "and X is a NumPy array (or array API dispatch is off). Pass X in the "
                "namespace and device of the fit with sklearn.set_config("
                "array_api_dispatch=True), or move the model to NumPy first: "
                "sklearn.utils._array_api.move_estimator_to(model, numpy, 'cpu')."
            )
        return layout.logits(X, coef, intercept)
    xp, _, device = get_namespace_and_device(X)
    z = X @ coef.T + intercept
    if not bool(xp.all(xp.isfinite(z))):
        host = layout.logits(*(to_host(a) for a in (X, coef, intercept)))
        return tuple(None if a is None else xp.asarray(a, device=device) for a in host)
    if layout.reference:
        z = xp.concat([xp.zeros_like(z[:, :1]), z], axis=1)
    return z, None


def require_host_model(estimator, method):
    """Raise a ``ValueError`` when ``estimator`` was fitted on another library's arrays."""
    if _is_foreign(estimator.coef_):
        raise ValueError(
            f"{method}() runs on the host (NumPy), but this model was fitted on "
            f"{type(estimator.coef_).__module__.split('.')[0]} arrays. Move it first: "
            "sklearn.utils._array_api.move_estimator_to(model, numpy, 'cpu')."
        )


def row_argmax(z):
    """Column of each row's largest logit, on the host."""
    xp, _ = get_namespace(z)
    return to_host(xp.argmax(z, axis=1))


def take_classes(classes, z):
    """``classes[argmax(z, axis=1)]``, in z's namespace and device (NumPy for string labels)."""
    if not _is_foreign(z) and not _is_foreign(classes):
        return classes[np.argmax(z, axis=1)]
    xp, _, device = get_namespace_and_device(z)
    xp_c, _, device_c = get_namespace_and_device(classes)
    index = move_to(xp.argmax(z, axis=1), xp=xp_c, device=device_c)
    labels = xp_c.take(classes, index, axis=0)
    if isinstance(classes, np.ndarray) and classes.dtype.kind not in "biuf":
        return labels
    return move_to(labels, xp=xp, device=device)
