"""Statistical inference for an unpenalised softmax fit: covariance, tests, summary tables.

Conventions
-----------
Parameters are reported in the *reference-class* parameterisation of
statsmodels' ``MNLogit`` and Stata's ``mlogit``: the coefficients of one class
(``base``) are pinned at zero and every other class's are differences to it.
``params`` has shape ``(n_dof, K - 1)``: rows are the features and then
``const`` (the intercept; last, as in the flat layout of ``_layout``), columns
the non-base classes in the order of ``classes_``. The covariance matrix is over
``params.ravel(order="F")`` (all of the first non-base class, then the next),
statsmodels' order.

Per row, with design row ``x_i`` (the features and a 1 for the intercept),
probabilities ``p_i`` and one-hot ``e_i`` restricted to the non-base classes
and frequency weight ``w_i``:

* log-likelihood ``sum_i w_i log p_{i, y_i}``;
* score ``sum_i w_i g_i`` with ``g_i = (e_i - p_i) ⊗ x_i``;
* information (minus the Hessian) ``sum_i w_i (diag(p_i) - p_i p_i^T) ⊗ x_i x_i^T``.

All sums over rows are totals of pure block functions (``information_block``,
``score_outer_block``, ``cluster_scores_block``, ``margeff_block``) of one block
of rows and the parameters, like ``_blocks``: a block never needs another
block, and no array larger than a block's rows times the number of parameters
is formed.
"""

from typing import NamedTuple

import numpy as np
import scipy.sparse as sp
from scipy import linalg, optimize, stats

from ._engine import SERIAL
from ._layout import Layout
from ._softmax import log_softmax

# Bytes of one block's per-row parameter array (rows x n_params float64).
_BLOCK_BYTES = 2**23
_MAX_BLOCK_ROWS = 4096
# The full information matrix is formed only up to this many parameters.
MAX_PARAMS = 5000
# Newton refinement of the fitted coefficients (see ``infer``): steps stop (the
# last one, below _STEP_DONE standard errors, is still taken: the error left is
# of its square); a first step beyond _STEP_TOO_FAR means
# the model was not fitted to the optimum and is refused.
_STEP_DONE = 1e-5
_STEP_TOO_FAR = 0.5
_MAX_NEWTON = 8
# Scaled (correlation-form) condition number above which the information
# matrix is treated as singular.
_MAX_CONDITION = 1e12
# The linear program that detects separation is solved when its constraint
# matrix has at most this many nonzeros.
_MAX_LP_NONZEROS = 3_000_000

COV_TYPES = ("nonrobust", "HC0", "HC1", "cluster")


class InferenceBlock(NamedTuple):
    """One block of rows: ``X`` (dense or sparse), class indices ``y``, frequency
    ``weights`` (float64) and cluster codes ``groups`` (intp) or None."""

    X: object
    y: np.ndarray
    weights: np.ndarray
    groups: np.ndarray | None


# -- pure block functions --------------------------------------------------------------
def _design(X, fit_intercept):
    """The block's design matrix in float64: its rows, then a column of ones."""
    D = X.toarray() if sp.issparse(X) else np.asarray(X)
    D = D.astype(np.float64)
    if fit_intercept:
        D = np.column_stack([D, np.ones(D.shape[0])])
    return D


def _fitted(block, B, fit_intercept):
    """``(design, log-probabilities)`` of the block at reference params ``B`` (n_dof, K)."""
    D = _design(block.X, fit_intercept)
    return D, log_softmax(D @ B, axis=1)


def _rows_times_design(R, D):
    """``(n, m * p)``: row ``i`` is ``R_i ⊗ D_i`` (class-major), one block's worth."""
    return (R[:, :, None] * D[:, None, :]).reshape(R.shape[0], -1)


def _residuals(block, P, free):
    """``e_i - p_i`` over the non-base classes ``free``: (n, K - 1)."""
    R = -P[:, free]
    observed = np.searchsorted(free, block.y)
    hit = np.isin(block.y, free)
    R[np.flatnonzero(hit), observed[hit]] += 1.0
    return R


def information_block(block, B, free, fit_intercept):
    """``(loglike, score, information, gram)`` of one block at reference params ``B``.

    ``score`` is flat over the parameters (class-major), ``information`` is
    ``(n_params, n_params)`` and ``gram`` the weighted ``D^T D`` of the design.
    """
    D, logp = _fitted(block, B, fit_intercept)
    w = block.weights
    loglike = float(w @ logp[np.arange(D.shape[0]), block.y])
    P = np.exp(logp)
    R = _residuals(block, P, free)
    score = ((w[:, None] * R).T @ D).ravel()
    Pf = P[:, free]
    U = _rows_times_design(Pf, D) * np.sqrt(w)[:, None]
    info = -(U.T @ U)
    p = D.shape[1]
    for j in range(len(free)):
        info[j * p : (j + 1) * p, j * p : (j + 1) * p] += D.T @ (D * (w * Pf[:, j])[:, None])
    gram = D.T @ (D * w[:, None])
    return loglike, score, info, gram


def score_outer_block(block, B, free, fit_intercept):
    """``(sum_i w_i g_i g_i^T,)``: the block's part of the sandwich's meat."""
    D, logp = _fitted(block, B, fit_intercept)
    G = _rows_times_design(_residuals(block, np.exp(logp), free), D)
    G *= np.sqrt(block.weights)[:, None]
    return (G.T @ G,)


def cluster_scores_block(block, B, free, fit_intercept):
    """``(codes, sums)``: the block's clusters and their scores ``sum_{i in c} w_i g_i``."""
    D, logp = _fitted(block, B, fit_intercept)
    G = _rows_times_design(_residuals(block, np.exp(logp), free), D)
    codes, local = np.unique(block.groups, return_inverse=True)
    member = sp.csr_matrix(
        (block.weights, (local, np.arange(G.shape[0]))), shape=(codes.size, G.shape[0])
    )
    return codes, np.asarray(member @ G)


def margeff_block(block, B, free, fit_intercept, n_features):
    """``(effects, jacobian)``: weighted sums of the block's marginal effects and their
    derivatives in the parameters.

    The effect of feature ``f`` on class ``k``'s probability at row ``i`` is
    ``p_ik (b_kf - sum_l p_il b_lf)``; ``effects`` is ``(K, n_features)`` and
    ``jacobian`` ``(K * n_features, n_params)``, rows class-major.
    """
    D, logp = _fitted(block, B, fit_intercept)
    P = np.exp(logp)
    w = block.weights
    K = P.shape[1]
    coefs = B[:n_features].T  # (K, d)
    dev = coefs[None, :, :] - (P @ coefs)[:, None, :]  # (n, K, d): b_kf - mean_l b_lf
    effects = np.einsum("i,ik,ikf->kf", w, P, dev)
    p = D.shape[1]
    jac = np.zeros((K, n_features, len(free), p))
    for j, m in enumerate(free):
        A = P * ((np.arange(K) == m) - P[:, [m]])  # p_ik (delta_km - p_im)
        M = A[:, :, None] * dev - (P * P[:, [m]])[:, :, None] * dev[:, [m], :]
        M *= w[:, None, None]
        jac[:, :, j, :] = (M.reshape(M.shape[0], -1).T @ D).reshape(K, n_features, p)
        diag = w @ A  # (K,): the derivative of b_kf itself, f = g
        jac[:, np.arange(n_features), j, np.arange(n_features)] += diag[:, None]
    return effects, jac.reshape(K * n_features, len(free) * p)


# -- orchestration ---------------------------------------------------------------------
def _blocks(X, y, weights, groups, n_params):
    rows = int(np.clip(_BLOCK_BYTES // (8 * max(n_params, 1)), 64, _MAX_BLOCK_ROWS))
    if sp.issparse(X) and X.format != "csr":
        X = X.tocsr()
    keep = np.flatnonzero(weights > 0)  # rows of weight 0 are not observations
    if keep.size < X.shape[0]:
        X, y, weights = X[keep], y[keep], weights[keep]
        groups = None if groups is None else groups[keep]
    return [
        InferenceBlock(
            X[a : a + rows],
            y[a : a + rows],
            weights[a : a + rows],
            None if groups is None else groups[a : a + rows],
        )
        for a in range(0, X.shape[0], rows)
    ]


def _scaled_inverse(info):
    """``(inverse, condition)`` of a symmetric information matrix, scaled to unit diagonal
    first so that feature scales do not count as ill-conditioning; inverse None if singular."""
    d = np.diag(info)
    if not np.all(d > 0):
        return None, np.inf
    s = 1.0 / np.sqrt(d)
    scaled = info * s[:, None] * s[None, :]
    eig = linalg.eigvalsh(scaled)
    condition = eig[-1] / eig[0] if eig[0] > 0 else np.inf
    if not condition < _MAX_CONDITION:
        return None, condition
    inv = linalg.cho_solve(linalg.cho_factor(scaled), np.eye(scaled.shape[0]))
    return inv * s[:, None] * s[None, :], condition


def _check_collinear(gram, names):
    """Raise if the weighted design is (nearly) rank deficient, naming the features."""
    d = np.diag(gram)
    zero = [names[j] for j in np.flatnonzero(~(d > 0))]
    if zero:
        raise ValueError(
            f"Features {zero} are zero in every observation: their coefficients are not "
            "identified. Drop them before asking for standard errors."
        )
    s = 1.0 / np.sqrt(d)
    eig, vec = linalg.eigh(gram * s[:, None] * s[None, :])
    if eig[0] > eig[-1] / _MAX_CONDITION:
        return
    v = np.abs(vec[:, 0])
    involved = [names[j] for j in np.flatnonzero(v > 0.1 * v.max())]
    raise ValueError(
        f"The features are (nearly) collinear: {involved} are linearly dependent "
        f"(condition number {eig[-1] / max(eig[0], 1e-300):.3g}), so their coefficients are not "
        "identified and their standard errors would be meaningless. Drop or merge one "
        "of them (a constant feature is collinear with the intercept)."
    )


def detect_separation(blocks, n_classes, free, fit_intercept, names, class_labels):
    """Raise a ``ValueError`` if the classes are completely or quasi-completely separated.

    The maximum-likelihood estimate exists if and only if no direction ``d`` of
    the parameters (Albert and Anderson, 1984) makes every observation's logit
    ``x_i d_{y_i}`` at least every other class's, ``x_i d_l``, with at least one
    strictly greater: along ``d`` the likelihood rises for ever. A linear program
    (as in Konis' ``safeBinaryRegression``) looks for the sparsest such
    direction, with features scaled to unit magnitude. Returns False when the
    program was too large to solve (``_MAX_LP_NONZEROS``), True when no
    separation was found.
    """
    m = len(free)
    n = sum(b.X.shape[0] for b in blocks)
    p = blocks[0].X.shape[1] + int(fit_intercept)
    if 2 * n * (n_classes - 1) * p > _MAX_LP_NONZEROS:
        return False
    D = np.vstack([_design(b.X, fit_intercept) for b in blocks])
    y = np.concatenate([b.y for b in blocks])
    scale = np.abs(D).max(axis=0)
    D = D / np.where(scale > 0, scale, 1.0)
    column = np.full(n_classes, -1)
    column[free] = np.arange(m)
    # One constraint row per (observation i, other class l): x_i (d_{y_i} - d_l) >= 0.
    rows_i = np.repeat(np.arange(n), n_classes - 1)
    others = np.array([[c for c in range(n_classes) if c != yi] for yi in range(n_classes)])
    l_cls = others[y].ravel()
    entries, cols, rws = [], [], []
    for cls, sign in ((y[rows_i], 1.0), (l_cls, -1.0)):
        has = column[cls] >= 0
        r = np.flatnonzero(has)
        for f in range(p):
            entries.append(sign * D[rows_i[r], f])
            cols.append(column[cls[r]] * p + f)
            rws.append(r)
    A = sp.csr_matrix(
        (np.concatenate(entries), (np.concatenate(rws), np.concatenate(cols))),
        shape=(rows_i.size, m * p),
    )
    # The sparsest such direction (least L1 norm, d = u - v with u, v >= 0) whose
    # margins sum to at least 1: the program is feasible if and only if the data
    # are separated, and its solution names the features that do it.
    k = m * p
    total = np.asarray(A.sum(axis=0)).ravel()
    constraints = sp.vstack([sp.hstack([-A, A]), sp.csr_matrix(np.r_[-total, total][None, :])])
    bound = np.zeros(constraints.shape[0])
    bound[-1] = -1.0
    result = optimize.linprog(
        np.ones(2 * k), A_ub=constraints, b_ub=bound, bounds=(0, None), method="highs"
    )
    if result.status != 0:
        return True  # infeasible: no separation (other failures are no evidence of it)
    d = result.x[:k] - result.x[k:]
    margins = A @ d
    if not (margins.min() > -1e-6 * max(1.0, np.abs(d).max()) and margins.max() > 1e-9):
        return True
    sure = np.unique(rows_i[margins > 1e-9])
    certain = np.unique(y[sure])
    direction = np.abs(d.reshape(m, p)).max(axis=0)[: len(names) - int(fit_intercept)]
    features = [names[f] for f in np.flatnonzero(direction > 1e-6 * max(direction.max(), 1e-300))]
    raise ValueError(
        "The classes are (quasi-)completely separated: a linear combination of the "
        f"features {features} tells {sure.size} of the {n} observations (of class(es) "
        f"{[class_labels[c] for c in certain]}) from at least one other class with certainty. "
        "The maximum-likelihood estimate "
        "does not exist (the unpenalised coefficients grow without bound as the fit goes on), "
        "so standard errors and p-values would be meaningless (statsmodels prints NaN or huge "
        "ones here). To get them, remove or merge the separating features (or the classes "
        "they isolate); a penalised fit (finite C) gives finite coefficients but no classical "
        "standard errors."
    )


def _reduce(fn, blocks, *args):
    return SERIAL.reduce(fn, blocks, *args)


def infer(
    X,
    y,
    sample_weight,
    *,
    classes,
    coef,
    intercept,
    fit_intercept,
    C,
    class_weight,
    feature_names,
    cov_type="nonrobust",
    groups=None,
    base_class=None,
):
    """Inference for an unpenalised softmax fit (``SoftmaxRegressionClassifier.inference``).

    ``X``, ``y`` (indices into ``classes``) and ``sample_weight`` are validated
    arrays; see the estimator's method for the rest.
    """
    _check_policy(C, class_weight, cov_type, groups)
    n_classes = classes.size
    base = _base_index(classes, base_class)
    free = np.array([k for k in range(n_classes) if k != base])
    layout = Layout(X.shape[1], n_classes, bool(fit_intercept))
    names = [str(f) for f in feature_names] + (["const"] if fit_intercept else [])
    n_params = layout.n_dof * free.size
    if n_params > MAX_PARAMS:
        raise ValueError(
            f"The model has {n_params} parameters ((n_features + 1) x (n_classes - 1)); "
            f"inference forms their full information matrix, which is done up to {MAX_PARAMS}. "
            "Reduce the features or merge classes."
        )
    codes = None
    if cov_type == "cluster":
        groups = np.asarray(groups)
        if groups.shape != (X.shape[0],):
            raise ValueError(
                f"groups has shape {groups.shape}, but X has {X.shape[0]} samples: pass one "
                "cluster label per sample."
            )
        codes = np.unique(groups, return_inverse=True)[1].astype(np.intp)
    counts = np.bincount(y, weights=sample_weight, minlength=n_classes)
    missing = [
        classes[k].item() if hasattr(classes[k], "item") else classes[k]
        for k in np.flatnonzero(~(counts > 0))
    ]
    if missing:
        raise ValueError(
            f"Class(es) {missing} have no observations (of positive weight) in y: their "
            "intercepts would be minus infinity. Pass the training data the model was fitted on."
        )
    blocks = _blocks(X, y, sample_weight, codes, n_params)
    labels = list(classes.tolist())
    checked = detect_separation(blocks, n_classes, free, fit_intercept, names, labels)

    B = layout.reference_params(coef, intercept, base)
    moved = np.zeros(n_params)
    steps = 0
    for it in range(_MAX_NEWTON + 1):
        llf, score, info, gram = _reduce(information_block, blocks, B, free, fit_intercept)
        if it == 0:
            _check_collinear(gram, names)
        cov, condition = _scaled_inverse(info)
        if cov is None:
            raise ValueError(_singular_message(condition))
        se = np.sqrt(np.diag(cov))
        step = cov @ score
        size = np.max(np.abs(step) / se)
        if it == 0 and size > _STEP_TOO_FAR:
            raise ValueError(
                "The fitted coefficients are not at the maximum of the likelihood: one Newton "
                f"step would move them by {size:.3g} standard errors. Refit with a tighter tol "
                "(e.g. tol=1e-8) and enough max_iter before asking for standard errors."
            )
        B[:, free] += step.reshape(free.size, -1).T  # the last, tiny step is kept too
        moved += step
        steps += 1
        if size <= _STEP_DONE:
            break
    else:
        raise ValueError(_unsettled_message(step, se, names, size, checked))
    params = B[:, free]
    if cov_type != "nonrobust":
        cov = _sandwich(cov, blocks, B, free, fit_intercept, cov_type, sample_weight.sum())
    if not np.all(np.isfinite(cov)) or not np.all(np.diag(cov) > 0):
        raise ValueError(_singular_message(condition))
    llnull = float(counts @ np.log(counts / counts.sum()))
    return InferenceResults(
        params=params,
        cov=cov,
        llf=llf,
        llnull=llnull,
        nobs=float(sample_weight.sum()),
        cov_type=cov_type,
        param_names=names,
        classes=classes,
        base=base,
        fit_intercept=bool(fit_intercept),
        refinement=(steps, float(np.max(np.abs(moved) / se))),
        margeff_args=(blocks, B, free, fit_intercept, X.shape[1]),
        n_groups=None if codes is None else int(np.unique(codes[sample_weight > 0]).size),
    )


def _unsettled_message(step, se, names, size, checked):
    """Why Newton's steps from the fit did not settle at the likelihood's maximum."""
    feature = names[int(np.argmax(np.abs(step) / se)) % len(names)]
    head = (
        f"The maximum of the likelihood was not reached: {_MAX_NEWTON + 1} Newton steps from "
        f"the fitted coefficients still move them, the last by {size:.3g} standard errors "
        f"(most along {feature!r}). "
    )
    if checked:  # the program found no separation: a sample too small for Newton's model
        return head + (
            "No separation was found, so the likelihood is too far from quadratic here for "
            "its standard errors to mean much (a small sample for the number of "
            "parameters?): refit with a tighter tol, or with fewer features or more rows."
        )
    return head + (
        "Coefficients that keep growing are what (quasi-)complete separation does, where no "
        "maximum-likelihood estimate exists; the linear program that detects it was skipped "
        f"(2 x n_samples x (n_classes - 1) x n_params above {_MAX_LP_NONZEROS:,} nonzeros). "
        "Look for a feature that is (nearly) constant within some classes, or that alone "
        "tells a class apart, and drop or merge it before asking for standard errors."
    )


def _check_policy(C, class_weight, cov_type, groups):
    if cov_type not in COV_TYPES:
        raise ValueError(f"cov_type must be one of {COV_TYPES}, got {cov_type!r}.")
    if (cov_type == "cluster") != (groups is not None):
        raise ValueError(
            "cov_type='cluster' needs groups (one cluster label per sample), and groups is "
            "used only with cov_type='cluster'."
        )
    if not np.isinf(C):
        raise ValueError(
            f"Standard errors and p-values need an unpenalised fit, but this model has C={C}. "
            "A penalty shrinks the coefficients towards zero, so the estimates are biased and "
            "the usual (Wald) standard errors, z-values and p-values do not apply to them. "
            "Refit with C=np.inf (and a tight tol, e.g. 1e-8) for classical inference."
        )
    if class_weight is not None:
        raise ValueError(
            "Standard errors need the model fitted by maximum likelihood, but this one was "
            "fitted with class_weight, which reweights the likelihood by class. Refit with "
            "class_weight=None (sample_weight is supported, as frequency weights)."
        )


def _base_index(classes, base_class):
    if base_class is None:
        return 0
    hit = np.flatnonzero(classes == base_class)
    if hit.size != 1:
        raise ValueError(
            f"base_class={base_class!r} is not one of the classes {list(classes.tolist())}."
        )
    return int(hit[0])


def _singular_message(condition):
    return (
        "The information matrix is (nearly) singular (scaled condition number "
        f"{condition:.3g}): the classes are close to separated by the features, or features "
        "are nearly collinear, so some coefficients are barely identified and their standard "
        "errors would be huge or NaN. Remove or merge the offending features or classes, or "
        "use a penalty (finite C) without classical standard errors."
    )


def _sandwich(bread, blocks, B, free, fit_intercept, cov_type, nobs):
    """Robust covariance ``bread @ meat @ bread`` with statsmodels' small-sample factors."""
    k = bread.shape[0]
    if cov_type in ("HC1", "cluster") and not nobs > k:
        raise ValueError(
            f"cov_type={cov_type!r} corrects by {'nobs' if cov_type == 'HC1' else '(nobs - 1)'} "
            "/ (nobs - n_params), with nobs the sum "
            f"of the sample weights (frequency weights: each counts observations), here "
            f"{nobs:g}, not above the {k} parameters. Pass weights that count observations "
            "(normalised weights sum to 1), or use cov_type='HC0'."
        )
    if cov_type == "cluster":
        n_groups = int(max(b.groups.max() for b in blocks)) + 1
        sums = np.zeros((n_groups, k))
        for block in blocks:  # partial cluster sums land in their clusters' rows
            codes, part = cluster_scores_block(block, B, free, fit_intercept)
            sums[codes] += part
        present = np.unique(np.concatenate([b.groups[b.weights > 0] for b in blocks]))
        g = present.size
        if g < 2:
            raise ValueError(f"cov_type='cluster' needs at least 2 clusters, got {g}.")
        meat = sums.T @ sums
        factor = g / (g - 1) * (nobs - 1) / (nobs - k)
    else:
        (meat,) = _reduce(score_outer_block, blocks, B, free, fit_intercept)
        factor = nobs / (nobs - k) if cov_type == "HC1" else 1.0
    cov = bread @ meat @ bread * factor
    return (cov + cov.T) / 2


class _Text(str):
    """A string that prints as itself (a summary table reads well in a notebook too)."""

    def __repr__(self):
        return str(self)


def _table(header, rows, names, columns):
    width = max(len(n) for n in names) + 2
    lines = [header.ljust(width) + "".join(c.rjust(11) for c in columns)]
    lines.append("-" * len(lines[0]))
    for name, row in zip(names, rows, strict=True):
        lines.append(name.ljust(width) + "".join(_fmt(v).rjust(11) for v in row))
    return lines


def _fmt(v):
    if v == 0 or 1e-3 <= abs(v) < 1e5:
        return f"{v:.4f}"
    return f"{v:.3e}"


class InferenceResults:
    """Standard errors, tests and summaries of an unpenalised softmax fit.

    Returned by ``SoftmaxRegressionClassifier.inference``; names follow
    statsmodels' ``MNLogitResults``. Parameters are in the reference-class
    parameterisation: ``params[f, j]`` is the coefficient of term ``f``
    (``param_names``: the features, then ``"const"``) for the ``j``-th non-base
    class (``class_names``) minus the base class's. Sample weights count as
    frequency weights (``nobs`` is their sum).

    Attributes
    ----------
    params, bse, tvalues, pvalues : ndarray of shape (n_terms, n_classes - 1)
        Estimates, standard errors, z-values and two-sided p-values (normal).
    llf, llnull, llr, llr_pvalue, prsquared : float
        Log-likelihood, that of the intercept-only model, the likelihood-ratio
        statistic, its chi-squared p-value with ``df_model`` degrees of
        freedom, and McFadden's pseudo R-squared ``1 - llf / llnull``.
    aic, bic : float
        ``-2 llf + 2 k`` and ``-2 llf + log(nobs) k``, ``k`` the number of parameters.
    nobs, df_model, df_resid : float
        Observations (sum of weights), ``(n_terms - 1) x (n_classes - 1)``,
        ``nobs`` minus the number of parameters.
    cov_type : str
        ``"nonrobust"``, ``"HC0"``, ``"HC1"`` or ``"cluster"``.
    param_names : list of str
        Row labels of ``params``.
    class_names : list
        Column labels of ``params`` (the non-base classes).
    base_class : object
        The reference class.
    refinement : tuple of (int, float)
        Newton steps taken from the fitted ``coef_`` to the maximum of the
        likelihood, and how far the parameters moved, in standard errors.

    Examples
    --------
    Made by ``SoftmaxRegressionClassifier.inference``; sepal length alone, on
    which the iris classes overlap:

    >>> import numpy as np
    >>> from sklearn.datasets import load_iris
    >>> from softmax_sk import SoftmaxRegressionClassifier
    >>> X, y = load_iris(return_X_y=True)
    >>> res = (
    ...     SoftmaxRegressionClassifier(C=np.inf, tol=1e-10, max_iter=500)
    ...     .fit(X[:, :1], y)
    ...     .inference(X[:, :1], y)
    ... )
    >>> res.params.shape, res.param_names, res.class_names
    ((2, 2), ['x0', 'const'], [1, 2])
    >>> res.bse.round(3)
    array([[0.907, 1.022],
           [4.889, 5.691]])
    >>> round(res.prsquared, 4)
    0.4476
    """

    def __init__(
        self,
        *,
        params,
        cov,
        llf,
        llnull,
        nobs,
        cov_type,
        param_names,
        classes,
        base,
        fit_intercept,
        refinement,
        margeff_args,
        n_groups,
    ):
        self.params = params
        self._cov = cov
        self.cov_type = cov_type
        self.param_names = list(param_names)
        free = [k for k in range(classes.size) if k != base]
        self.class_names = [
            classes[k].item() if hasattr(classes[k], "item") else classes[k] for k in free
        ]
        self.base_class = classes[base].item() if hasattr(classes[base], "item") else classes[base]
        self._classes = classes
        self.bse = np.sqrt(np.diag(cov)).reshape(len(free), -1).T
        self.tvalues = params / self.bse
        self.pvalues = 2 * stats.norm.sf(np.abs(self.tvalues))
        self.llf = llf
        self.llnull = llnull
        self.llr = 2 * (llf - llnull)
        self.nobs = nobs
        self.df_model = float((params.shape[0] - 1) * params.shape[1])
        n_params = params.size
        self.df_resid = nobs - n_params
        self.llr_pvalue = float(stats.chi2.sf(self.llr, self.df_model))
        self.prsquared = 1 - llf / llnull
        self.aic = -2 * llf + 2 * n_params
        self.bic = -2 * llf + np.log(nobs) * n_params
        self.refinement = refinement
        self.n_groups = n_groups
        self._margeff_args = margeff_args

    def cov_params(self):
        """Covariance of ``params.ravel(order="F")`` (statsmodels' order): (n_params, n_params)."""
        return self._cov.copy()

    def conf_int(self, alpha=0.05):
        """Confidence intervals ``params ± z_{1 - alpha/2} bse``: shape ``params.shape + (2,)``.

        (statsmodels' ``MNLogitResults.conf_int`` has the classes first:
        ``conf_int().transpose(1, 0, 2)`` is its array.)
        """
        if not 0 < alpha < 1:
            raise ValueError(f"alpha must be in (0, 1), got {alpha}.")
        q = stats.norm.ppf(1 - alpha / 2)
        return np.stack([self.params - q * self.bse, self.params + q * self.bse], axis=-1)

    def summary(self, alpha=0.05):
        """A text table: model statistics, then one block of terms per non-base class."""
        ci = self.conf_int(alpha)
        lo, hi = f"[{alpha / 2:g}", f"{1 - alpha / 2:g}]"
        head = [
            "Softmax (multinomial logit) regression results",
            f"No. observations: {self.nobs:g}    Classes: {len(self.class_names) + 1} "
            f"(base: {self.base_class!r})    Covariance: {self.cov_type}"
            + (f" ({self.n_groups} clusters)" if self.n_groups else ""),
            f"Log-likelihood: {self.llf:.6g}    LL-Null: {self.llnull:.6g}    "
            f"LLR p-value: {self.llr_pvalue:.4g}",
            f"Pseudo R-squ. (McFadden): {self.prsquared:.4f}    AIC: {self.aic:.6g}    "
            f"BIC: {self.bic:.6g}",
        ]
        lines = ["=" * 78, *head, "=" * 78]
        columns = ["coef", "std err", "z", "P>|z|", lo, hi]
        for j, label in enumerate(self.class_names):
            rows = np.column_stack(
                [
                    self.params[:, j],
                    self.bse[:, j],
                    self.tvalues[:, j],
                    self.pvalues[:, j],
                    ci[:, j, 0],
                    ci[:, j, 1],
                ]
            )
            lines += _table(f"y={label}", rows, self.param_names, columns)
            lines.append("")
        return _Text("\n".join(lines).rstrip())

    def summary_frame(self, alpha=0.05):
        """The coefficient table as a pandas DataFrame, rows indexed by (class, term)."""
        columns = {"coef": self.params, "std err": self.bse, "z": self.tvalues}
        columns["P>|z|"] = self.pvalues
        return _frame(columns, self.conf_int(alpha), alpha, self.class_names, self.param_names)

    def get_margeff(self):
        """Average marginal effects ``d P(class) / d feature`` with delta-method standard errors.

        statsmodels' ``get_margeff(at="overall", method="dydx")``: the
        derivative of each class's probability in each feature, averaged over
        the (weighted) observations, with the covariance of this result's
        ``cov_type``.

        Returns
        -------
        MarginalEffects
        """
        blocks, B, free, fit_intercept, n_features = self._margeff_args
        effects, jac = _reduce(margeff_block, blocks, B, free, fit_intercept, n_features)
        effects, jac = effects / self.nobs, jac / self.nobs
        cov = jac @ self._cov @ jac.T
        K = effects.shape[0]
        se = np.sqrt(np.clip(np.diag(cov), 0, None)).reshape(K, n_features)
        return MarginalEffects(
            effects.T, se.T, self.param_names[:n_features], list(self._classes.tolist())
        )


class MarginalEffects:
    """Average marginal effects (``InferenceResults.get_margeff``).

    Attributes
    ----------
    margeff, margeff_se, tvalues, pvalues : ndarray of shape (n_features, n_classes)
        Effects of each feature (rows) on each class's probability (columns, in
        the order of ``classes_``; they sum to zero over classes), standard
        errors, z-values and p-values.
    feature_names, class_names : list
    """

    def __init__(self, margeff, margeff_se, feature_names, class_names):
        self.margeff = margeff
        self.margeff_se = margeff_se
        self.feature_names = feature_names
        self.class_names = class_names
        with np.errstate(divide="ignore", invalid="ignore"):
            self.tvalues = margeff / margeff_se
        self.pvalues = 2 * stats.norm.sf(np.abs(self.tvalues))

    def conf_int(self, alpha=0.05):
        """``margeff ± z_{1 - alpha/2} margeff_se``: shape ``margeff.shape + (2,)``."""
        q = stats.norm.ppf(1 - alpha / 2)
        return np.stack(
            [self.margeff - q * self.margeff_se, self.margeff + q * self.margeff_se], axis=-1
        )

    def summary_frame(self, alpha=0.05):
        """The effects as a pandas DataFrame, rows indexed by (class, feature)."""
        columns = {"dy/dx": self.margeff, "std err": self.margeff_se, "z": self.tvalues}
        columns["P>|z|"] = self.pvalues
        return _frame(columns, self.conf_int(alpha), alpha, self.class_names, self.feature_names)


def _frame(columns, ci, alpha, class_names, term_names):
    """A table of ``(terms, classes)`` arrays as a DataFrame indexed by (class, term)."""
    import pandas as pd

    index = pd.MultiIndex.from_product([class_names, term_names], names=["class", "term"])
    data = {name: values.T.ravel() for name, values in columns.items()}
    data[f"[{alpha / 2:g}"] = ci[..., 0].T.ravel()
    data[f"{1 - alpha / 2:g}]"] = ci[..., 1].T.ravel()
    return pd.DataFrame(data, index=index)
