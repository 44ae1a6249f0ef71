"""scikit-learn's estimator checks, over several configurations: no expected failures,
except the sample-weight equivalence of the two configurations that draw rows or classes at
random per row (``RANDOM_DRAWS``)."""

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
    # sgd at a tight tol: the sample-weight checks compare weighted and repeated rows to
    # rtol=1e-7, and at tol=1e-8 the two fits stopped 1.4e-7 apart in predict_proba
    SoftmaxRegressionClassifier(solver="sgd", tol=1e-10, max_iter=2000),
    # sgd with L1 likewise: at the default tol two fits stop within tol of the optimum (a
    # Newton-CG check confirms it) but 1.2e-7 apart in predict_proba
    SoftmaxRegressionClassifier(
        solver="sgd", l1_ratio=0.5, shuffle=False, tol=1e-10, max_iter=2000
    ),
    # Label smoothing. newton-cg at the default tol stops weighted and repeated rows (the same
    # objective to 1e-16) up to 3e-8 apart in decision_function, past the sample-weight check's
    # rtol=1e-7: a tight tol for it; lbfgs at the default tol agrees to 1e-14.
    SoftmaxRegressionClassifier(label_smoothing=0.1, solver="lbfgs"),
    # with unequal class weights: dense smoothed targets
    SoftmaxRegressionClassifier(
        label_smoothing=0.2, class_weight="balanced", solver="newton-cg", tol=1e-8, max_iter=500
    ),
    SoftmaxRegressionClassifier(coef_bounds=(0, np.inf)),  # sign constraints
    SoftmaxRegressionClassifier(coef_bounds=(-1, 1), intercept_bounds=(-2, 2), l1_ratio=0.5),
    # The grouped lasso at a tight tol: check_sample_weight_equivalence compares two fits
    # to rtol 1e-7 on 15 samples and 30 features, where the objective is flat in many
    # directions and fits within tol=1e-4 of the optimum can differ by more.
    SoftmaxRegressionClassifier(l1_type="grouped", l1_ratio=1.0, tol=1e-10),
    SoftmaxRegressionClassifier(l1_type="grouped", l1_ratio=0.5, tol=1e-10),
]


# A weight of 3 on a row and three copies of it cannot be drawn alike: early stopping
# holds out rows (a copy can land on either side), and the sampled softmax's logits depend
# on which classes a minibatch holds (copies fall in different minibatches); scikit-learn's
# SGDClassifier fails these checks too. Every other check runs on them.
_DRAWS = "rows or classes drawn at random: a weighted row and its copies are drawn apart"
RANDOM_DRAWS = [
    SoftmaxRegressionClassifier(solver="sgd", early_stopping=True),
    SoftmaxRegressionClassifier(solver="sgd", n_sampled_classes=1),  # samples at 3 classes
]


def _expected_failures(estimator):
    if any(estimator is other for other in RANDOM_DRAWS):
        return {
            "check_sample_weight_equivalence_on_dense_data": _DRAWS,
            "check_sample_weight_equivalence_on_sparse_data": _DRAWS,
        }
    return {}


@parametrize_with_checks(CONFIGURATIONS + RANDOM_DRAWS, expected_failed_checks=_expected_failures)
def test_sklearn_compatible(estimator, check):
    check(estimator)
