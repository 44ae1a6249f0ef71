"""pytest's doctest collection of this package: skip modules whose extras are missing.

``pytest --doctest-modules`` imports every module of ``softmax_sk``; ``onnx.py``
needs skl2onnx and onnxruntime (the ``onnx`` extra) and the Dask modules dask and
distributed (the ``dask`` extra), and raise an ImportError without them, so they
are left out of collection then. (scikit-learn keeps its
``conftest.py`` in its package too.)
"""

import importlib.util

collect_ignore = []
if any(importlib.util.find_spec(name) is None for name in ("skl2onnx", "onnxruntime")):
    collect_ignore.append("onnx.py")
if any(importlib.util.find_spec(name) is None for name in ("dask", "distributed")):
    collect_ignore += ["_dask.py", "_engine_dask.py"]
