"""softmax-sk: fast, exact softmax (multinomial logistic) regression for scikit-learn."""

from ._cv import SoftmaxRegressionCV
from ._estimator import SoftmaxRegressionClassifier
from ._inference import InferenceResults, MarginalEffects
from ._path import grouped_lasso_path
from ._persistence import TRUSTED_TYPES
from ._show_versions import show_versions
from ._softmax import log_softmax, logsumexp, softmax

__version__ = "0.6.2"

__all__ = [
    "SoftmaxRegressionClassifier",
    "SoftmaxRegressionCV",
    "InferenceResults",
    "MarginalEffects",
    "grouped_lasso_path",
    "log_softmax",
    "logsumexp",
    "show_versions",
    "softmax",
    "TRUSTED_TYPES",
    "__version__",
]
