"""Model files of the command line: a fitted pipeline and what it was fitted on, saved with skops.

A model file is a skops file (https://skops.readthedocs.io) holding a dict:
``format`` (``FORMAT``), ``softmax_sk_version``, ``target`` (the target column's
name), ``columns`` (``{"numeric": [...], "categorical": [...]}``) and ``pipeline``
(a scikit-learn ``Pipeline``: a ``ColumnTransformer`` then a
``SoftmaxRegressionClassifier``). skops loads no code: loading trusts the types
in ``TRUSTED`` only, and a file holding any other type is refused before it is
loaded.

Versions: a model file is loaded only by the softmax-sk version that wrote it.
A fitted model's attributes are internal and may change between versions; a
model that loads but predicts differently would be worse than a refusal that
says to refit (or to install the version that wrote it).
"""

from . import __version__
from ._cli_data import UserError, need

FORMAT = "softmax-sk model"
# The types of the pipeline a model file holds (skops already trusts the
# scikit-learn ones by default); a file holding any type outside skops' defaults
# and this list was not written by `softmax-sk fit` of this version.
TRUSTED = (
    "softmax_sk._estimator.SoftmaxRegressionClassifier",
    "sklearn.compose._column_transformer.ColumnTransformer",
    "sklearn.pipeline.Pipeline",
    "sklearn.preprocessing._data.StandardScaler",
    "sklearn.preprocessing._encoders.OneHotEncoder",
)


def save_model(path, pipeline, target, columns):
    """Write the fitted ``pipeline`` and its metadata to ``path``."""
    sio = need("skops.io")
    model = {
        "format": FORMAT,
        "softmax_sk_version": __version__,
        "target": target,
        "columns": {kind: list(names) for kind, names in columns.items()},
        "pipeline": pipeline,
    }
    try:
        sio.dump(model, path)
    except OSError as exc:
        raise UserError(
            f"cannot write the model file {str(path)!r}: {exc.strerror or exc}",
            "check that its folder exists and is writable",
        ) from None


def load_model(path):
    """The dict ``save_model`` wrote, after checking its types, format and version."""
    from pathlib import Path

    sio = need("skops.io")
    if not Path(path).is_file():
        raise UserError(f"no such model file: {str(path)!r}", "check the path", code=2)
    refit = "fit a model with `softmax-sk fit DATA --target COLUMN --model MODEL`"
    try:
        untrusted = sio.get_untrusted_types(file=path)
    except Exception:  # not a zip, not a skops file: anything the reader raises
        raise UserError(f"{str(path)!r} is not a softmax-sk model file", refit) from None
    unknown = sorted(set(untrusted) - set(TRUSTED))
    if unknown:
        raise UserError(
            f"{str(path)!r} holds types that a model file of softmax-sk {__version__} never "
            f"holds ({', '.join(unknown)}); it was written by another program or another "
            "version, and loading it could run its code",
            refit,
        )
    try:
        model = sio.load(path, trusted=list(untrusted))
    except Exception as exc:
        raise UserError(f"cannot load the model file {str(path)!r}: {exc}", refit) from None
    if not isinstance(model, dict) or model.get("format") != FORMAT:
        raise UserError(f"{str(path)!r} is not a softmax-sk model file", refit)
    version = model.get("softmax_sk_version")
    if version != __version__:
        raise UserError(
            f"{str(path)!r} was written by softmax-sk {version}, and this is "
            f"softmax-sk {__version__}; model files are read only by the version that "
            "wrote them",
            f"refit it with this version, or install softmax-sk=={version} to use it",
        )
    return model
