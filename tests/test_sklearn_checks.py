"""scikit-learn's estimator checks, over several configurations, with no expected failures."""

import numpy as np
from sklearn.utils.estimator_checks import parametrize_with_checks

from softmax_sk import SoftmaxRegressionClassifier

CONFIGURATIONS = [
    SoftmaxRegressionClassifier(),
    SoftmaxRegressionClassifier(fit_intercept=False),
    SoftmaxRegressionClassifier(C=1e-3),
    SoftmaxRegressionClassifier(C=np.inf),
    SoftmaxRegressionClassifier(class_weight="balanced"),
    SoftmaxRegressionClassifier(tol=1e-3, max_iter=50),  # float32-friendly
    SoftmaxRegressionClassifier(solver="lbfgs"),
    SoftmaxRegressionClassifier(solver="newton-cg"),
    SoftmaxRegressionClassifier(solver="owlqn"),
    SoftmaxRegressionClassifier(l1_ratio=0.5),
    SoftmaxRegressionClassifier(l1_ratio=1.0),
    SoftmaxRegressionClassifier(solver="sgd"),
    SoftmaxRegressionClassifier(solver="sgd", l1_ratio=0.5, shuffle=False),
]


@parametrize_with_checks(CONFIGURATIONS)
def test_sklearn_compatible(estimator, check):
    check(estimator)
