"""Model selection over covariance models × numbers of components, as R's ``Mclust`` does.

:class:`GaussianMixtureSelection` fits every pair (K, model) of a grid and
keeps the best by BIC, ICL or AIC (scikit-learn's sign: lower is better).
Work is shared across the grid: for each K one initial partition of the rows
(k-means, or a Ward hierarchical clustering of a sample, ``init_params='hc'``)
is made once, and every model starts from the M-step of that same partition,
as mclust starts every model from one hierarchical partition.

Spurious optima (a component collapsing on a few points, whose likelihood
grows without bound) would win any likelihood-based criterion; fits in which
some component holds fewer than ``min_component_size`` points (by default the
number of features + 1, the fewest that span the space) are kept in the table
but never chosen.
"""

from __future__ import annotations

import math
import warnings
from numbers import Integral

import numpy as np
from sklearn.base import BaseEstimator, DensityMixin
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted

from . import _kmeans
from ._initialization import hierarchical_labels, kmeans_labels, stats_from_partition
from ._mixture import precisions_from_cholesky
from ._mstep import m_step
from ._recovery import DegenerateComponentWarning
from .backends import get_backend
from .covariance import MODELS, get_model
from .gaussian_mixture import GaussianMixture

CRITERIA = ("bic", "icl", "aic")
ICL_CHUNK_ROWS = 1 << 15


def _initial_labels(X, sample_weight, n_components, init_params, random_state, backend):
    """(rows, labels) of one initial partition: k-means, Ward of a sample, or given."""
    if isinstance(init_params, dict):
        labels = np.asarray(init_params[n_components], dtype=np.intp)
        if labels.shape != (X.shape[0],) or labels.min() < 0 or labels.max() >= n_components:
            raise ValueError(
                f"init_params[{n_components}] must hold one label in "
                f"0..{n_components - 1} for each of the {X.shape[0]} rows"
            )
        return slice(None), labels
    if init_params == "hc":
        return hierarchical_labels(X, n_components, random_state)
    return slice(None), kmeans_labels(X, sample_weight, n_components, random_state, backend)[1]


def start_from_labels(X, sample_weight, labels, covariance_type, reg_covar):
    """``*_init`` arrays of one M-step of ``covariance_type`` from hard labels."""
    model = get_model(covariance_type)
    stats = stats_from_partition(X, sample_weight, labels, int(labels.max()) + 1, model.layout)
    mixture, _, _ = m_step(stats, reg_covar, model, data_variance=_kmeans.variance_scale(X))
    return {
        "weights_init": mixture.weights,
        "means_init": mixture.means,
        "precisions_init": precisions_from_cholesky(mixture.precisions_cholesky, model.layout),
    }


def log_likelihoods(model, X, sample_weight=None) -> tuple[float, float]:
    """(Σ_n w_n log p(x_n), Σ_n w_n log max_k r_nk), in row chunks.

    The second is the classification log-likelihood ICL adds to BIC (≤ 0).
    """
    total = classification = 0.0
    for start in range(0, X.shape[0], ICL_CHUNK_ROWS):
        rows = slice(start, start + ICL_CHUNK_ROWS)
        weights = None if sample_weight is None else np.asarray(sample_weight[rows], float)
        log_density = model.score_samples(X[rows]).astype(np.float64)
        with np.errstate(divide="ignore"):
            log_largest = np.log(model.predict_proba(X[rows]).max(axis=1).astype(np.float64))
        total += float(log_density.sum() if weights is None else log_density @ weights)
        classification += float(log_largest.sum() if weights is None else log_largest @ weights)
    return total, classification


class GaussianMixtureSelection(DensityMixin, BaseEstimator):
    """The best Gaussian mixture over covariance models and numbers of components.

    Fits each (number of components, covariance model) of the grid with
    :class:`fastem.GaussianMixture` and keeps the one with the lowest
    criterion, as R's ``Mclust`` chooses model and G by BIC. ``fit``,
    ``predict``, ``predict_proba``, ``score``, ``score_samples`` and
    ``sample`` are those of the best mixture.

    Parameters
    ----------
    n_components : int or iterable of int, default=range(1, 10)
        The numbers of components to try (an int K means 1..K).
    covariance_types : 'all' or iterable of str, default='all'
        The covariance models to try: 'all' for mclust's fourteen, or names
        accepted by :class:`fastem.GaussianMixture` (scikit-learn's four too).
    criterion : {'bic', 'icl', 'aic'}, default='bic'
        What is minimised. ICL (Biernacki, Celeux & Govaert 2000) is BIC
        plus twice the classification entropy, −2 Σ_n log max_k r_nk, as
        mclust computes it; it prefers well-separated clusters.
    init_params : {'kmeans', 'hc'} or dict, default='kmeans'
        The initial partition for each K, shared by every model: fastem's
        k-means (of a uniform sample of 32,768 rows when there are more),
        Ward's hierarchical clustering (scipy) of up to 2,000 rows ('hc', in
        the spirit of mclust's hierarchical start), or a
        dict mapping each K to a label per row (e.g. mclust's own
        ``hclass(hc(X), K)``), used as given.
    min_component_size : float or None, default=None
        Fits in which a component's (weighted) size is below this are not
        chosen: they sit on a spurious maximum. None means n_features + 1.
    tol, reg_covar, max_iter, n_init, random_state, backend, n_jobs, verbose, missing
        Passed to every :class:`fastem.GaussianMixture` of the grid (``missing='em'``
        fits data with NaN entries; the partitions are then made on the rows
        with each NaN replaced by its column's mean).

    Attributes
    ----------
    best_estimator_ : GaussianMixture
        The chosen mixture, fitted.
    best_params_ : dict
        Its ``n_components`` and ``covariance_type``.
    results_ : dict of ndarray
        One entry per fit of the grid, like scikit-learn's ``cv_results_``:
        'n_components', 'covariance_type', 'bic', 'icl', 'aic',
        'log_likelihood' (total), 'n_parameters', 'n_iter', 'converged' and
        'eligible' (False for fits on a spurious maximum or that failed).
    criterion_table_ : ndarray of shape (n_n_components, n_covariance_types)
        The criterion of every fit, NaN where not eligible: mclust's BIC table.
    n_components_grid_ : list of int
    covariance_types_grid_ : list of str
        The rows and columns of ``criterion_table_``.

    Examples
    --------
    >>> import numpy as np
    >>> from fastem import GaussianMixtureSelection
    >>> rng = np.random.default_rng(0)
    >>> X = np.r_[rng.normal(0, 1, (300, 2)), rng.normal(6, 1, (300, 2))]
    >>> search = GaussianMixtureSelection(n_components=4, covariance_types=["EII", "VVV"],
    ...                                   random_state=0).fit(X)
    >>> search.best_params_
    {'n_components': 2, 'covariance_type': 'EII'}
    """

    def __init__(
        self,
        n_components=range(1, 10),
        *,
        covariance_types="all",
        criterion="bic",
        init_params="kmeans",
        min_component_size=None,
        tol=1e-3,
        reg_covar=1e-6,
        max_iter=100,
        n_init=1,
        random_state=None,
        backend="auto",
        n_jobs=None,
        verbose=0,
        missing="error",
    ):
        self.n_components = n_components
        self.covariance_types = covariance_types
        self.criterion = criterion
        self.init_params = init_params
        self.min_component_size = min_component_size
        self.tol = tol
        self.reg_covar = reg_covar
        self.max_iter = max_iter
        self.n_init = n_init
        self.random_state = random_state
        self.backend = backend
        self.n_jobs = n_jobs
        self.verbose = verbose
        self.missing = missing

    def _grid(self) -> tuple[list[int], list[str]]:
        ks = self.n_components
        ks = list(range(1, ks + 1)) if isinstance(ks, Integral) else [int(k) for k in ks]
        if not ks or min(ks) < 1:
            raise ValueError(f"n_components must give numbers >= 1; got {self.n_components!r}")
        names = (
            list(MODELS)
            if isinstance(self.covariance_types, str) and self.covariance_types == "all"
            else list(self.covariance_types)
        )
        for name in names:
            get_model(name)  # raises on an unknown name
        if self.criterion not in CRITERIA:
            raise ValueError(f"criterion must be one of {CRITERIA}; got {self.criterion!r}")
        if isinstance(self.init_params, dict):
            missing = [k for k in ks if k not in self.init_params]
            if missing:
                raise ValueError(f"init_params has no partition for K = {missing}")
        elif self.init_params not in ("kmeans", "hc"):
            raise ValueError(
                "init_params must be 'kmeans', 'hc' or a dict of partitions; "
                f"got {self.init_params!r}"
            )
        return ks, names

    def _estimator(self, n_components, covariance_type, init):
        return GaussianMixture(
            n_components,
            covariance_type=covariance_type,
            tol=self.tol,
            reg_covar=self.reg_covar,
            max_iter=self.max_iter,
            n_init=1,
            random_state=self.random_state,
            backend=self.backend,
            n_jobs=self.n_jobs,
            verbose=self.verbose,
            missing=self.missing,
            **init,
        )

    def fit(self, X, y=None, sample_weight=None):
        """Fit every mixture of the grid and keep the best.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            The data (arrays and memory maps).
        y : Ignored
            Not used, present for API consistency by convention.
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative row weights.

        Returns
        -------
        self : GaussianMixtureSelection
            The fitted selection.
        """
        ks, names = self._grid()
        probe = GaussianMixture(
            max(ks), backend=self.backend, n_jobs=self.n_jobs, missing=self.missing
        )
        data = probe._row_source(X, sample_weight, reset=True)  # checked once for the grid
        n_samples, n_features = data.n_samples, data.n_features
        if max(ks) > n_samples:
            raise ValueError(f"n_components up to {max(ks)} but X has {n_samples} rows")
        # The partitions are made on the rows in memory (a sample of a memory map)
        X_rows, weights = probe._initialisation_rows(
            data, check_random_state(self.random_state), self.init_params
        )
        n_effective = n_samples if sample_weight is None else float(np.sum(sample_weight))
        min_size = n_features + 1 if self.min_component_size is None else self.min_component_size
        random_state = check_random_state(self.random_state)
        backend = get_backend(self.backend)
        rows, fits = [], {}
        for k in ks:
            starts = []
            for _ in range(1 if isinstance(self.init_params, dict) else self.n_init):
                sample, labels = _initial_labels(
                    X_rows, weights, k, self.init_params, random_state, backend
                )
                starts.append((sample, labels))
            for name in names:
                best = None
                for sample, labels in starts:
                    model = self._fit_one(
                        X_rows, weights, sample, labels, k, name, X, sample_weight
                    )
                    if model is not None and (
                        best is None or model.lower_bound_ > best.lower_bound_
                    ):
                        best = model
                rows.append(self._row(best, X, sample_weight, k, name, n_effective, min_size))
                fits[k, name] = best
        self.results_ = {key: np.array([row[key] for row in rows]) for key in rows[0]}
        eligible = self.results_["eligible"]
        values = np.where(eligible, self.results_[self.criterion], np.nan)
        if not np.any(eligible):
            raise ValueError(
                "no fit of the grid is eligible: every one failed or has a "
                "component smaller than min_component_size"
            )
        best_index = int(np.nanargmin(values))
        self.n_components_grid_, self.covariance_types_grid_ = ks, names
        self.criterion_table_ = values.reshape(len(ks), len(names))
        best_k = int(self.results_["n_components"][best_index])
        best_name = str(self.results_["covariance_type"][best_index])
        self.best_params_ = {"n_components": best_k, "covariance_type": best_name}
        self.best_estimator_ = fits[best_k, best_name]
        self.n_features_in_ = self.best_estimator_.n_features_in_
        return self

    def _fit_one(self, X_rows, weights, sample, labels, k, name, X, sample_weight):
        """One mixture from one partition; None if the fit fails or a component collapses."""
        try:
            init = start_from_labels(
                X_rows[sample],
                None if weights is None else weights[sample],
                labels,
                name,
                self.reg_covar,
            )
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # convergence notes
                warnings.simplefilter("error", DegenerateComponentWarning)  # a collapse
                model = self._estimator(k, name, init).fit(X, sample_weight=sample_weight)
        except (ValueError, DegenerateComponentWarning, np.linalg.LinAlgError):
            return None  # a singular or collapsed fit: no value in the table (mclust: NA)
        return model

    def _row(self, model, X, sample_weight, k, name, n_effective, min_size) -> dict:
        if model is None:
            return {
                "n_components": k,
                "covariance_type": name,
                "bic": np.nan,
                "icl": np.nan,
                "aic": np.nan,
                "log_likelihood": np.nan,
                "n_parameters": -1,
                "n_iter": 0,
                "converged": False,
                "eligible": False,
            }
        log_likelihood, classification = log_likelihoods(model, X, sample_weight)
        n_parameters = model._n_parameters()
        bic = -2.0 * log_likelihood + n_parameters * math.log(n_effective)
        icl = bic - 2.0 * classification
        smallest = float(np.min(model.weights_)) * n_effective
        return {
            "n_components": k,
            "covariance_type": name,
            "bic": bic,
            "icl": icl,
            "aic": -2.0 * log_likelihood + 2.0 * n_parameters,
            "log_likelihood": log_likelihood,
            "n_parameters": n_parameters,
            "n_iter": model.n_iter_,
            "converged": model.converged_,
            "eligible": bool(smallest >= min_size),
        }

    def table(self) -> str:
        """The criterion table as text: one row per K, one column per model (mclust's layout)."""
        check_is_fitted(self)
        names = self.covariance_types_grid_
        lines = [f"{self.criterion.upper():>4} " + " ".join(f"{name:>11}" for name in names)]
        for k, values in zip(self.n_components_grid_, self.criterion_table_, strict=True):
            cells = " ".join(
                f"{value:>11.2f}" if np.isfinite(value) else f"{'—':>11}" for value in values
            )
            lines.append(f"{k:>4} {cells}")
        return "\n".join(lines)

    # --- the best mixture's methods ----------------------------------------------------------

    def predict(self, X):
        """Component labels of the best mixture (see :meth:`GaussianMixture.predict`)."""
        check_is_fitted(self)
        return self.best_estimator_.predict(X)

    def predict_proba(self, X):
        """Responsibilities under the best mixture."""
        check_is_fitted(self)
        return self.best_estimator_.predict_proba(X)

    def score_samples(self, X):
        """Log-likelihood of each row under the best mixture."""
        check_is_fitted(self)
        return self.best_estimator_.score_samples(X)

    def score(self, X, y=None):
        """Mean log-likelihood of the rows under the best mixture."""
        check_is_fitted(self)
        return self.best_estimator_.score(X)

    def sample(self, n_samples=1):
        """Draw from the best mixture."""
        check_is_fitted(self)
        return self.best_estimator_.sample(n_samples)
