"""What a user must trust to load a softmax-sk model saved with skops.

``skops.io.load`` refuses any type it does not trust by default until the
caller names it. A fitted ``SoftmaxRegressionClassifier`` holds numpy arrays,
Python scalars, strings and dicts, which skops trusts already; the estimator
class must be named, ``scipy.sparse.csr_matrix`` for a ``coef_`` made
sparse by ``sparsify()``, and the stochastic optimizer's state (``SGDState``, a
NamedTuple of arrays, numbers and a dict) after ``solver="sgd"`` or
``partial_fit``. ``tests/test_persistence.py`` checks this list
against skops' own ``get_untrusted_types`` over fitted models of every kind:
none needs more, and each entry is needed by some.
"""

import scipy.sparse as sp

from ._cv import SoftmaxRegressionCV
from ._estimator import SoftmaxRegressionClassifier
from ._stochastic import SGDState


def _type_name(cls):
    """The name skops gives a class: ``module.qualname``."""
    return f"{cls.__module__}.{cls.__qualname__}"


# The types to pass as ``skops.io.load(file, trusted=TRUSTED_TYPES)``. Parameters
# set to objects of other types (a ``RandomState`` as ``random_state``, say) add
# their own types, as they would for any scikit-learn estimator.
TRUSTED_TYPES = [
    _type_name(SoftmaxRegressionClassifier),
    _type_name(SoftmaxRegressionCV),
    _type_name(sp.csr_matrix),
    _type_name(SGDState),
]
