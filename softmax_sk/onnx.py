"""Export to ONNX: importing this module registers a converter with skl2onnx.

skl2onnx refuses classes it has no converter for, and its ``LogisticRegression``
converter does not fit this model (it treats two classes one-vs-rest, and gives
wrong binary probabilities for a softmax with a reference class). After
``import softmax_sk.onnx``, ``skl2onnx.to_onnx(model, X_sample)`` converts a
fitted ``SoftmaxRegressionClassifier``, alone or as the last step of a
pipeline, into a graph with the two outputs of every skl2onnx classifier:

* ``label``: ``predict``, int64 for integer (and boolean) classes, strings for
  string classes;
* ``probabilities``: ``predict_proba``, a tensor with ``options={"zipmap":
  False}``, else skl2onnx's default list of ``{class: probability}`` maps
  (``"columns"``: one output per class).

With ``options={"nocl": True}``, ``label`` holds the index of the class in
``classes_`` instead, as for skl2onnx's own classifiers.

The graph is ``MatMul`` by the coefficients, ``Add`` of the intercepts (when
the model has them), ``Softmax`` for the probabilities and ``ArgMax`` then
``Gather`` from the classes for the label. Two classes are computed as softmax
over the logits ``[0, z]``, the reference class's being zero, which is exactly
the fitted logistic model. The graph keeps the input's precision: float32 input
gives float32 coefficients and probabilities, float64 (double) input float64
(with ``zipmap=False``: ZipMap takes float32 only, as for skl2onnx's own converters).
Unlike ``predict_proba``, it does not rescale logits that overflow (features
near the largest float): those rows get NaN probabilities.
A model fitted with an ``offset`` exports its coefficients only: the graph
has no offset input, so it computes ``predict*(X)`` without one (offset 0), and
offsets at prediction time cannot be expressed. Fits to ``y_proba`` or with
``label_smoothing`` export as any other (they are the same linear model).

Needs the ``onnx`` extra: ``pip install softmax-sk[onnx]`` (skl2onnx and
onnxruntime).

Examples
--------
>>> import numpy as np
>>> import onnxruntime as ort
>>> from skl2onnx import to_onnx
>>> from sklearn.datasets import load_iris
>>> import softmax_sk.onnx  # registers the converter
>>> from softmax_sk import SoftmaxRegressionClassifier
>>> X, y = load_iris(return_X_y=True)
>>> X = X.astype(np.float32)
>>> clf = SoftmaxRegressionClassifier(max_iter=200).fit(X, y)
>>> onx = to_onnx(clf, X[:1], options={"zipmap": False})
>>> session = ort.InferenceSession(onx.SerializeToString(), providers=["CPUExecutionProvider"])
>>> [output.name for output in session.get_outputs()]
['label', 'probabilities']
>>> label, proba = session.run(None, {"X": X})
>>> bool((label == clf.predict(X)).all())
True
>>> bool(np.abs(proba - clf.predict_proba(X)).max() < 1e-6)
True
"""

import numpy as np
import scipy.sparse as sp

try:
    from onnx import TensorProto
    from skl2onnx import update_registered_converter
    from skl2onnx.common.data_types import (
        DoubleTensorType,
        FloatTensorType,
        Int64TensorType,
        StringTensorType,
    )
    from skl2onnx.common.utils import check_input_and_output_numbers, check_input_and_output_types
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError(
        "softmax_sk.onnx needs skl2onnx (and onnxruntime to run the converted model): "
        "pip install softmax-sk[onnx]"
    ) from exc

from ._estimator import SoftmaxRegressionClassifier

__all__ = ["ALIAS", "calculate_output_shapes", "convert", "register"]

# The name of the model's operator in skl2onnx's registry.
ALIAS = "SoftmaxSkSoftmaxRegressionClassifier"


def _label_kind(classes):
    """``"int"`` or ``"str"``: how the ``label`` output holds ``classes_``.

    Integer and boolean classes become int64, as do floating-point classes with
    integral values (skl2onnx's own rule for labels), if int64 holds them; string
    classes stay strings.
    """
    kind = classes.dtype.kind
    if kind in "iub" or (kind == "f" and np.array_equal(classes, np.round(classes))):
        if -(2**63) <= int(classes.min()) and int(classes.max()) < 2**63:
            return "int"
        raise NotImplementedError(
            f"ONNX integer labels are int64, and the classes {classes.tolist()!r} (dtype "
            f"{classes.dtype}) reach beyond it (|label| >= 2**63). Refit with labels within "
            "int64, or with string labels."
        )
    if kind == "U" or (kind == "O" and all(isinstance(c, str) for c in classes)):
        return "str"
    raise NotImplementedError(
        f"ONNX labels are int64 or strings; the classes {classes.tolist()!r} "
        f"(dtype {classes.dtype}) are neither. Refit with integer or string labels."
    )


def _no_class_labels(scope, model):
    """skl2onnx's option ``nocl``: ``label`` holds class indices, not ``classes_``."""
    return bool(scope.get_options(model, {"nocl": False})["nocl"])


def calculate_output_shapes(operator):
    """skl2onnx shape calculator: ``label`` (n,) int64 or string, ``probabilities`` (n, K).

    The probabilities take the input's type (float or double).
    """
    check_input_and_output_numbers(operator, input_count_range=1, output_count_range=2)
    check_input_and_output_types(operator, good_input_types=[FloatTensorType, DoubleTensorType])
    model = operator.raw_operator
    n = operator.inputs[0].get_first_dimension()
    as_int = _no_class_labels(operator.scope_inst, model) or _label_kind(model.classes_) == "int"
    label_type = Int64TensorType if as_int else StringTensorType
    operator.outputs[0].type = label_type([n])
    operator.outputs[1].type = operator.inputs[0].type.__class__([n, model.classes_.size])


def _weights(model, dtype):
    """``(W, b)``: ``W`` (n_features, K) and ``b`` (K,) in ``dtype`` with ``X @ W + b``
    the logits of every class; two classes get the reference class's zero column."""
    coef = model.coef_.toarray() if sp.issparse(model.coef_) else np.asarray(model.coef_)
    W, b = coef.T.astype(dtype), np.asarray(model.intercept_).astype(dtype)
    if model.classes_.size == 2:
        W = np.column_stack([np.zeros_like(W), W])
        b = np.concatenate([np.zeros_like(b), b])
    return np.ascontiguousarray(W), b


def convert(scope, operator, container):
    """skl2onnx converter: the graph described in the module docstring."""
    model = operator.raw_operator
    X = operator.inputs[0]
    label, proba = operator.outputs
    double = isinstance(X.type, DoubleTensorType)
    dtype, proto = (np.float64, TensorProto.DOUBLE) if double else (np.float32, TensorProto.FLOAT)
    W, b = _weights(model, dtype)

    def initializer(seed, proto_type, values):
        name = scope.get_unique_variable_name(seed)
        container.add_initializer(name, proto_type, list(values.shape), values.ravel().tolist())
        return name

    def node(op_type, inputs, seed, op_version, **attrs):
        output = scope.get_unique_variable_name(seed) if isinstance(seed, str) else seed.onnx_name
        container.add_node(
            op_type,
            inputs,
            output,
            name=scope.get_unique_operator_name(op_type),
            op_version=op_version,
            **attrs,
        )
        return output

    # MatMul-9: the model is stamped opset 9 even without an Add-7 (onnxruntime warns, and its
    # transpose optimizer fails, below opset 7); Softmax, ArgMax and Gather keep version 1.
    logits = node("MatMul", [X.onnx_name, initializer("coef", proto, W)], "product", 9)
    if np.any(b != 0):  # fit_intercept=False leaves zeros: nothing to add
        logits = node("Add", [logits, initializer("intercept", proto, b)], "logits", 7)
    node("Softmax", [logits], proba, 1, axis=1)
    if _no_class_labels(scope, model):
        node("ArgMax", [logits], label, 1, axis=1, keepdims=0)
        return
    index = node("ArgMax", [logits], "class_index", 1, axis=1, keepdims=0)
    if _label_kind(model.classes_) == "int":
        classes = initializer("classes", TensorProto.INT64, model.classes_.astype(np.int64))
    else:
        values = np.array([str(c).encode("utf-8") for c in model.classes_], dtype=object)
        classes = initializer("classes", TensorProto.STRING, values)
    node("Gather", [classes, index], label, 1, axis=0)


def register():
    """Register the converter with skl2onnx (done once when this module is imported).

    Call it again only if skl2onnx's registry was reset since.
    """
    update_registered_converter(
        SoftmaxRegressionClassifier,
        ALIAS,
        calculate_output_shapes,
        convert,
        overwrite=True,
        options={"zipmap": [True, False, "columns"], "nocl": [True, False]},
    )


register()
