"""softmax-sk: fast, exact softmax (multinomial logistic) regression for scikit-learn."""

from ._estimator import SoftmaxRegressionClassifier
from ._show_versions import show_versions
from ._softmax import log_softmax, logsumexp, softmax

__version__ = "0.1.0"

__all__ = [
    "SoftmaxRegressionClassifier",
    "log_softmax",
    "logsumexp",
    "show_versions",
    "softmax",
    "__version__",
]
