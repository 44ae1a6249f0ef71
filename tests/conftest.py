import os

# scikit-learn's array API dispatch (tests/test_array_api.py and its estimator checks)
# needs SciPy's array API support, which SciPy reads when it is first imported.
os.environ.setdefault("SCIPY_ARRAY_API", "1")

import numpy as np
import pytest
from sklearn.datasets import make_classification


def make_problem(n_classes, n_samples=400, n_features=8, seed=0, n_redundant=1):
    """A noisy (non-separable) classification problem with standardised-ish features."""
    X, y = make_classification(
        n_samples=n_samples,
        n_features=n_features,
        n_informative=6,
        n_redundant=n_redundant,
        n_classes=n_classes,
        n_clusters_per_class=1,
        flip_y=0.15,
        class_sep=0.8,
        random_state=seed,
    )
    return X, y


@pytest.fixture
def rng():
    return np.random.default_rng(0)


def pytest_report_header(config):
    from softmax_sk import _softmax

    flags = [
        f"{name}={os.environ[name]}"
        for name in ("SOFTMAX_SK_NO_KERNELS", "SOFTMAX_SK_REQUIRE_KERNELS")
        if name in os.environ
    ]
    return f"softmax_sk compiled kernels: {_softmax._kernels_status()}" + (
        f" [{', '.join(flags)}]" if flags else ""
    )
