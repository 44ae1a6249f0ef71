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
    SoftmaxRegressionClassifier(coef_bounds=(0, np.inf)),  # sign constraints
    SoftmaxRegressionClassifier(coef_bounds=(-1, 1), intercept_bounds=(-2, 2), l1_ratio=0.5),
    SoftmaxRegressionClassifier(coef_bounds=(-np.inf, 0.5), solver="lbfgsb", C=np.inf),
    # The grouped lasso at a tight tol: check_sample_weight_equivalence compares two fits
    # to rtol 1e-7 on 15 samples and 30 features, where the objective is flat in many
    # directions and fits within tol=1e-4 of the optimum can differ by more.
    SoftmaxRegressionClassifier(l1_type="grouped", l1_ratio=1.0, tol=1e-10),
    SoftmaxRegressionClassifier(l1_type="grouped", l1_ratio=0.5, tol=1e-10),
]


@parametrize_with_checks(CONFIGURATIONS)
def test_sklearn_compatible(estimator, check):
    check(estimator)
