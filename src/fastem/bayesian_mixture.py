"""fastem.BayesianGaussianMixture: scikit-learn's variational mixture on the fused kernels."""

from __future__ import annotations

from numbers import Real

import numpy as np

from . import _persistence, _validation
from ._base import BaseMixture
from ._em import EMRun
from ._initialization import initial_statistics
from ._variational import (
    PRIOR_TYPES,
    Posterior,
    Priors,
    data_moments,
    lower_bound,
    maximise,
    sample_covariance,
)

LAYOUTS = ("full", "tied", "diag", "spherical")


class BayesianGaussianMixture(BaseMixture):
    """Variational Bayesian estimation of a Gaussian mixture, on all CPU cores.

    A drop-in for :class:`sklearn.mixture.BayesianGaussianMixture` (same
    parameters, defaults, fitted attributes and methods): with a Dirichlet
    process prior on the weights it leaves the components the data do not
    need with weights near zero, so ``n_components`` is an upper bound on
    the number of clusters rather than a guess. Each iteration is one fused
    pass over the data with the same compiled kernels as
    :class:`fastem.GaussianMixture` (the variational E-step differs from EM's
    only in per-component constants), so it also takes ``sample_weight``,
    float32 data, memory maps and Dask arrays, and gives bitwise-identical
    results for any number of threads.

    Parameters
    ----------
    n_components : int, default=1
        The most components the mixture may use.
    covariance_type : {'full', 'tied', 'diag', 'spherical'}, default='full'
        The form of the covariances, as in :class:`fastem.GaussianMixture`.
    tol : float, default=1e-3
        EM stops when the lower bound (a total over the rows, not a mean)
        changes by less than ``tol``.
    reg_covar : float, default=1e-6
        Non-negative regularization added to the diagonal of the scatter.
    max_iter : int, default=100
        The number of iterations to perform.
    n_init : int, default=1
        The number of initialisations; the one with the highest lower bound is kept.
    init_params : {'kmeans', 'k-means++', 'hc', 'random', 'random_from_data'}, \
default='kmeans'
        How the initial responsibilities are chosen (see :class:`fastem.GaussianMixture`).
    weight_concentration_prior_type : {'dirichlet_process', 'dirichlet_distribution'}, \
default='dirichlet_process'
        The prior on the weights: a (truncated, stick-breaking) Dirichlet
        process, or a Dirichlet distribution.
    weight_concentration_prior : float or None, default=None
        α₀ > 0; small values put the weight on few components. None means
        ``1 / n_components``.
    mean_precision_prior : float or None, default=None
        β₀ > 0, how strongly the means are pulled to ``mean_prior``. None means 1.
    mean_prior : array-like of shape (n_features,), default=None
        m₀. None means the (weighted) mean of X.
    degrees_of_freedom_prior : float or None, default=None
        ν₀ > n_features − 1 of the Wishart prior. None means ``n_features``.
    covariance_prior : float or array-like, default=None
        W₀⁻¹, shaped by ``covariance_type``: (n_features, n_features) for
        'full' and 'tied', (n_features,) for 'diag', a float for
        'spherical'. None means the covariance of X (its diagonal, or the
        mean of its diagonal).
    random_state : int, RandomState instance or None, default=None
        Seed of the initialisation (and of :meth:`sample`).
    warm_start : bool, default=False
        If True, each ``fit`` continues from the previous solution.
    verbose : int, default=0
        1 reports each initialisation and every ``verbose_interval``-th
        iteration; 2 adds timings and the change of the bound.
    verbose_interval : int, default=10
        Iterations between two messages.
    backend : {'auto', 'numba', 'cython', 'numpy'}, default='auto'
        The kernels that do the work (see :class:`fastem.GaussianMixture`).
    n_jobs : int, default=None
        Threads of the compiled kernels (see :class:`fastem.GaussianMixture`).

    Attributes
    ----------
    weights_ : ndarray of shape (n_components,)
        The expected weight of each component under the posterior.
    means_ : ndarray of shape (n_components, n_features)
        The posterior mean m_k of each component's mean.
    covariances_ : ndarray
        The covariance of each component (the inverse of the expected
        precision), shaped by ``covariance_type``.
    precisions_ : ndarray
        The expected precisions ν_k W_k, shaped like ``covariances_``.
    precisions_cholesky_ : ndarray
        Upper-triangular U with ``precisions_`` = U Uᵀ (square roots for diag and spherical).
    converged_ : bool
        Whether the best initialisation converged.
    n_iter_ : int
        Iterations of the best initialisation.
    lower_bound_ : float
        The lower bound on the log evidence (up to a constant) at the last iteration.
    lower_bounds_ : list of float
        The lower bound of each iteration of the best initialisation.
    weight_concentration_prior_ : float
        α₀ used.
    weight_concentration_ : ndarray of shape (n_components,) or tuple of two
        The posterior's Dirichlet parameters, or for the Dirichlet process the
        Beta parameters (a_k, b_k) of each stick.
    mean_precision_prior_ : float
        β₀ used.
    mean_precision_ : ndarray of shape (n_components,)
        β_k.
    mean_prior_ : ndarray of shape (n_features,)
        m₀ used.
    degrees_of_freedom_prior_ : float
        ν₀ used.
    degrees_of_freedom_ : ndarray of shape (n_components,) or float
        ν_k (one for 'tied').
    covariance_prior_ : float or ndarray
        W₀⁻¹ used.
    n_features_in_ : int
        Number of features seen during fit.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Names of features seen during fit, when X has string column names.
    backend_ : str
        The backend that fitted the model.

    See Also
    --------
    sklearn.mixture.BayesianGaussianMixture : The estimator this one replaces.
    GaussianMixture : Maximum-likelihood fit of a mixture with a known number of components.

    Notes
    -----
    ``sample_weight`` counts rows: an integer weight is the same as repeating
    the row that many times (the posterior depends on the counts, not only
    on their ratios).

    Examples
    --------
    >>> import numpy as np
    >>> from fastem import BayesianGaussianMixture
    >>> rng = np.random.default_rng(0)
    >>> X = np.r_[rng.normal(-4, 1, (300, 2)), rng.normal(4, 1, (300, 2))]
    >>> bgm = BayesianGaussianMixture(n_components=6, random_state=0).fit(X)
    >>> int(np.sum(bgm.weights_ > 0.05))
    2
    """

    _covariance_types = LAYOUTS
    _saved_array_names = (
        "weight_concentration_",
        "mean_precision_",
        "degrees_of_freedom_",
        "weight_concentration_prior_",
        "mean_precision_prior_",
        "mean_prior_",
        "degrees_of_freedom_prior_",
        "covariance_prior_",
    )

    def __init__(
        self,
        *,
        n_components=1,
        covariance_type="full",
        tol=1e-3,
        reg_covar=1e-6,
        max_iter=100,
        n_init=1,
        init_params="kmeans",
        weight_concentration_prior_type="dirichlet_process",
        weight_concentration_prior=None,
        mean_precision_prior=None,
        mean_prior=None,
        degrees_of_freedom_prior=None,
        covariance_prior=None,
        random_state=None,
        warm_start=False,
        verbose=0,
        verbose_interval=10,
        backend="auto",
        n_jobs=None,
    ):
        self.n_components = n_components
        self.covariance_type = covariance_type
        self.tol = tol
        self.reg_covar = reg_covar
        self.max_iter = max_iter
        self.n_init = n_init
        self.init_params = init_params
        self.weight_concentration_prior_type = weight_concentration_prior_type
        self.weight_concentration_prior = weight_concentration_prior
        self.mean_precision_prior = mean_precision_prior
        self.mean_prior = mean_prior
        self.degrees_of_freedom_prior = degrees_of_freedom_prior
        self.covariance_prior = covariance_prior
        self.random_state = random_state
        self.warm_start = warm_start
        self.verbose = verbose
        self.verbose_interval = verbose_interval
        self.backend = backend
        self.n_jobs = n_jobs

    # --- the hooks of BaseMixture -------------------------------------------------

    def _check_hyperparameters(self) -> None:
        super()._check_hyperparameters()
        _validation.check_choice(
            "weight_concentration_prior_type", self.weight_concentration_prior_type, PRIOR_TYPES
        )
        for name in (
            "weight_concentration_prior",
            "mean_precision_prior",
            "degrees_of_freedom_prior",
        ):
            _validation.check_positive(name, getattr(self, name))
        if self.covariance_type == "spherical" and self.covariance_prior is not None:
            _validation.check_positive("covariance_prior", self.covariance_prior)

    def _parameter_layout(self) -> str:
        return self.covariance_type

    def _checked_init_arrays(self, n_features: int) -> dict:
        """The user-given priors, checked (those that depend on the data come later)."""
        arrays = {"mean_prior": None, "covariance_prior": None}
        if self.mean_prior is not None:
            arrays["mean_prior"] = _validation.float_array("means", self.mean_prior, (n_features,))
        dof = self.degrees_of_freedom_prior
        if dof is not None and not dof > n_features - 1.0:
            raise ValueError(
                "The parameter 'degrees_of_freedom_prior' should be greater than "
                f"{n_features - 1}, but got {dof:.3f}."
            )
        if self.covariance_prior is not None:
            arrays["covariance_prior"] = _checked_covariance_prior(
                self.covariance_prior, self.covariance_type, n_features
            )
        return arrays

    def _with_data(self, init_arrays: dict, data, backend) -> dict:
        """The priors, completed from the data's moments where not given (one pass)."""
        mean, covariance = init_arrays["mean_prior"], init_arrays["covariance_prior"]
        total = None
        if mean is None or covariance is None:
            total, data_mean, scatter = data_moments(data, backend, self.covariance_type)
            if mean is None:
                mean = data_mean
            if covariance is None:
                data_covariance = sample_covariance(total, scatter)
                covariance = {
                    "full": data_covariance,
                    "tied": data_covariance,
                    "diag": data_covariance,
                    "spherical": np.mean(data_covariance),
                }[self.covariance_type]
                covariance = np.asarray(covariance, dtype=np.float64)
        priors = Priors(
            weight_concentration_prior_type=self.weight_concentration_prior_type,
            weight_concentration=float(
                1.0 / self.n_components
                if self.weight_concentration_prior is None
                else self.weight_concentration_prior
            ),
            mean_precision=float(
                1.0 if self.mean_precision_prior is None else self.mean_precision_prior
            ),
            mean=mean,
            degrees_of_freedom=float(
                data.n_features
                if self.degrees_of_freedom_prior is None
                else self.degrees_of_freedom_prior
            ),
            covariance=covariance,
        )
        return {"priors": priors, "total_weight": total}

    def _initial_state(self, data, init_arrays, random_state, backend) -> EMRun:
        """The posterior after one M-step on the initial responsibilities of ``init_params``.

        Out of core the responsibilities come from a sample of rows; their
        statistics are scaled to the weight of all rows, so that the
        posterior starts from the data's counts.
        """
        X, sample_weight = self._initialisation_rows(data, random_state)
        stats = initial_statistics(
            X,
            sample_weight,
            self.n_components,
            self.covariance_type,
            self.init_params,
            random_state,
            backend,
        )
        if X.shape[0] == data.n_samples:
            stats = _in_counts(stats, data.weight_unit)
        else:
            total = init_arrays["total_weight"]
            if total is None:
                total = data_moments(data, backend, self.covariance_type)[0]
            stats = stats.scaled(total / stats.resp_sum.sum())
        posterior, covariances = maximise(stats, init_arrays["priors"], self.reg_covar)
        return EMRun(posterior, covariances, -np.inf)

    def _maximiser(self, init_arrays: dict, data):
        priors, reg_covar, unit = init_arrays["priors"], self.reg_covar, data.weight_unit

        def maximise_posterior(stats, previous):
            posterior, covariances = maximise(_in_counts(stats, unit), priors, reg_covar)
            return posterior, covariances, False

        return maximise_posterior

    def _lower_bound(self, init_arrays: dict, data):
        unit = data.weight_unit

        def bound(stats, entering, posterior):
            return lower_bound(_in_counts(stats, unit), entering, posterior)

        return bound

    def _set_fitted(self, run: EMRun, backend, dtype, online_state=None) -> None:
        """Replace every fitted attribute at once (arrays in the data's float dtype)."""
        posterior: Posterior = run.mixture
        priors = posterior.priors
        layout = posterior.covariance_type
        concentration = posterior.weight_concentration
        arrays = {
            "mean_precision_": posterior.mean_precision,
            "degrees_of_freedom_": posterior.degrees_of_freedom,
            "mean_prior_": priors.mean,
            "covariance_prior_": priors.covariance,
        }
        state = self._run_state(run, backend, dtype)
        state.update({name: np.asarray(value).astype(dtype) for name, value in arrays.items()})
        if layout == "tied":
            state["degrees_of_freedom_"] = float(posterior.degrees_of_freedom)
        if layout == "spherical":
            state["covariance_prior_"] = float(priors.covariance)
        concentration = concentration.astype(dtype)
        state.update(
            weight_concentration_=(
                (concentration[0], concentration[1])
                if priors.weight_concentration_prior_type == "dirichlet_process"
                else concentration
            ),
            weight_concentration_prior_=priors.weight_concentration,
            mean_precision_prior_=priors.mean_precision,
            degrees_of_freedom_prior_=priors.degrees_of_freedom,
        )
        self.__dict__.update(state)

    def _fitted_mixture(self) -> Posterior:
        """The fitted posterior, rebuilt from the attributes and checked against each other."""
        mixture = _validation.fitted_mixture(self)
        n_components, n_features = mixture.means.shape
        prior_type = self.weight_concentration_prior_type
        dp = prior_type == "dirichlet_process"
        concentration = _validation.fitted_array(
            self, "weight_concentration_", (2, n_components) if dp else (n_components,)
        )
        mean_precision = _validation.fitted_array(self, "mean_precision_", (n_components,))
        dof = _validation.fitted_array(
            self, "degrees_of_freedom_", () if self.covariance_type == "tied" else (n_components,)
        )
        if np.any(concentration <= 0) or np.any(mean_precision <= 0):
            raise ValueError(
                "The fitted weight_concentration_ and mean_precision_ must be positive."
            )
        if np.any(dof <= n_features - 1):
            raise ValueError(
                f"The fitted degrees_of_freedom_ must exceed n_features - 1 = {n_features - 1}."
            )
        priors = Priors(
            prior_type,
            float(self.weight_concentration_prior_),
            float(self.mean_precision_prior_),
            _validation.fitted_array(self, "mean_prior_", (n_features,)),
            float(self.degrees_of_freedom_prior_),
            _validation.fitted_array(
                self, "covariance_prior_", _covariance_prior_shape(self.covariance_type, n_features)
            ),
        )
        return Posterior(
            mixture.covariance_type,
            mixture.weights,
            mixture.means,
            mixture.precisions_cholesky,
            concentration,
            mean_precision,
            dof,
            priors,
        )

    # --- saving ---------------------------------------------------------------------

    def _saved_arrays(self) -> dict:
        """The fitted arrays a saved model holds besides those of every mixture."""
        return {
            name: np.asarray(getattr(self, name), dtype=np.float64)
            for name in self._saved_array_names
        }

    def _saved_shapes(self, n_components: int, n_features: int) -> dict:
        dp = self.weight_concentration_prior_type == "dirichlet_process"
        return {
            "weight_concentration_": (2, n_components) if dp else (n_components,),
            "mean_precision_": (n_components,),
            "degrees_of_freedom_": () if self.covariance_type == "tied" else (n_components,),
            "weight_concentration_prior_": (),
            "mean_precision_prior_": (),
            "mean_prior_": (n_features,),
            "degrees_of_freedom_prior_": (),
            "covariance_prior_": _covariance_prior_shape(self.covariance_type, n_features),
        }

    def _load_arrays(self, arrays: dict) -> None:
        """Set the attributes :meth:`_saved_arrays` wrote (as :meth:`_set_fitted` shapes them)."""
        for name, value in arrays.items():
            setattr(self, name, float(value) if value.ndim == 0 else value)
        if self.weight_concentration_prior_type == "dirichlet_process":
            concentration = arrays["weight_concentration_"]
            self.weight_concentration_ = (concentration[0], concentration[1])


def _in_counts(stats, unit: float):
    """Statistics whose weights were divided by ``unit``, multiplied back (counts of rows)."""
    return stats if unit == 1.0 else stats.scaled(unit)


def _covariance_prior_shape(covariance_type: str, n_features: int) -> tuple:
    return {
        "full": (n_features, n_features),
        "tied": (n_features, n_features),
        "diag": (n_features,),
        "spherical": (),
    }[covariance_type]


def _checked_covariance_prior(value, covariance_type: str, n_features: int) -> np.ndarray:
    """The covariance prior W₀⁻¹ as float64: symmetric positive definite, or positive."""
    if covariance_type == "spherical":
        if isinstance(value, bool) or not isinstance(value, Real) or not value > 0:
            raise ValueError(
                f"The parameter 'covariance_prior' must be a positive float for "
                f"'spherical' covariances; got {value!r}."
            )
        return np.asarray(float(value))
    shape = _covariance_prior_shape(covariance_type, n_features)
    prior = _validation.float_array(f"{covariance_type} covariance_prior", value, shape)
    if covariance_type == "diag":
        if np.any(prior <= 0.0):
            raise ValueError("'diag covariance_prior' should be positive")
        return prior
    if not np.allclose(prior, prior.T) or np.any(np.linalg.eigvalsh(prior) <= 0.0):
        raise ValueError(
            f"'{covariance_type} covariance_prior' should be symmetric, positive-definite"
        )
    return prior


_persistence.register("fastem.BayesianGaussianMixture", BayesianGaussianMixture)
