"""fastem.GaussianMixture: scikit-learn's estimator, fitted by fused compiled kernels."""

from __future__ import annotations

import math

import numpy as np
from sklearn.utils import check_random_state

from . import _missing, _persistence, _validation
from ._accelerate import Squarem
from ._base import BaseMixture, StreamingMixin
from ._em import EMRun
from ._initialization import initial_mixture
from ._mixture import (
    covariances_from_cholesky,
    precisions_cholesky_from_precisions,
)
from ._mstep import FixedParameters, m_step
from .covariance import COVARIANCE_TYPES, CovarianceModel, get_model


class GaussianMixture(StreamingMixin, BaseMixture):
    """Gaussian mixture fitted by Expectation–Maximization on all CPU cores.

    A drop-in for :class:`sklearn.mixture.GaussianMixture` (same parameters,
    fitted attributes and methods) that also takes ``sample_weight``, keeps
    float32 data in float32, makes one pass over the data per EM iteration with
    compiled kernels, and gives bitwise-identical results whatever the number
    of threads.

    Parameters
    ----------
    n_components : int, default=1
        The number of mixture components.
    covariance_type : str, default='full'
        The covariance model. scikit-learn's four: 'full' (each component
        its own covariance matrix), 'tied' (one shared by all), 'diag' (each
        its own diagonal), 'spherical' (each its own single variance); or one
        of R mclust's fourteen parsimonious models Σ_k = λ_k D_k A_k D_kᵀ,
        named by volume, shape and orientation, each Equal, Variable or the
        Identity: 'EII', 'VII', 'EEI', 'VEI', 'EVI', 'VVI', 'EEE', 'VEE',
        'EVE', 'VVE', 'EEV', 'VEV', 'EVV', 'VVV' ('full' is VVV, 'tied' EEE,
        'diag' VVI, 'spherical' VII). The fitted arrays take the shape of the
        scikit-learn type with the same layout (:mod:`fastem.covariance`
        lists each model's).
    tol : float, default=1e-3
        Convergence threshold: EM stops when the per-sample mean
        log-likelihood changes by less than ``tol`` from one iteration to the next.
    reg_covar : float, default=1e-6
        Non-negative regularization added to the diagonal of covariances.
    max_iter : int, default=100
        The number of EM iterations to perform (0 keeps the initialisation).
    n_init : int, default=1
        The number of initialisations; the best result is kept.
    init_params : {'kmeans', 'k-means++', 'hc', 'random', 'random_from_data'}, \
default='kmeans'
        How the initial responsibilities are chosen: fastem's own parallel
        k-means (k-means++ seeding then Lloyd iterations), k-means++ seeds
        alone (both on a uniform sample of 32,768 rows, or 20 per component,
        when X has more: the start then costs one or two EM iterations), a
        hierarchical (Ward, i.e. model-based with EII's criterion) clustering
        of up to 2,000 rows as mclust starts, random responsibilities, or
        random data points as means.
    weights_init : array-like of shape (n_components,), default=None
        User-provided initial weights.
    means_init : array-like of shape (n_components, n_features), default=None
        User-provided initial means.
    precisions_init : array-like, default=None
        User-provided initial precisions (inverse covariances), of shape
        (n_components,) for 'spherical', (n_features, n_features) for 'tied',
        (n_components, n_features) for 'diag' and
        (n_components, n_features, n_features) for 'full' (mclust's models:
        the shape of their layout).
    random_state : int, RandomState instance or None, default=None
        Seed of the initialisation (and of :meth:`sample`).
    warm_start : bool, default=False
        If True, each ``fit`` starts from the previous solution (``n_init`` is
        ignored after the first fit). The previous solution must still fit:
        if ``n_components``, ``covariance_type`` or the number of features
        changed since, ``fit`` raises a ValueError naming what changed and
        keeps the fitted model (set ``warm_start=False`` to fit anew).
    verbose : int, default=0
        1 reports each initialisation and every ``verbose_interval``-th
        iteration; 2 adds timings and the change of the lower bound
        (scikit-learn's messages). They go to the ``"fastem"`` logger at INFO
        level, and are printed to stdout when logging is not configured to
        show them. Whatever ``verbose``, every iteration is logged at DEBUG
        with its numbers (see :mod:`fastem._progress`).
    verbose_interval : int, default=10
        Iterations between two messages.
    backend : {'auto', 'numba', 'cython', 'numpy'}, default='auto'
        The kernels that do the work: 'numba' (compiled just in time,
        multi-threaded), 'cython' (the same kernels compiled at install time,
        with OpenMP), 'numpy' (the slow, readable reference) or 'auto' (numba,
        else cython, else numpy with a warning; the environment variable
        ``FASTEM_BACKEND`` overrides it). :func:`fastem.available_backends`
        tells which run here and why the others don't.
    n_jobs : int, default=None
        Threads of the compiled kernels (Numba's and OpenMP's alike) while this
        estimator fits or predicts; BLAS is held to one thread meanwhile so
        that the two do not compete for the cores. None keeps the backend's
        default (every core, or ``NUMBA_NUM_THREADS`` / ``OMP_NUM_THREADS``);
        -1 means every core this process may use, -2 all but one. It is a
        ceiling: a kernel call whose work is too small to share runs on fewer
        threads, and never on more than the cores available. Results are
        bitwise identical whatever the thread count.
    fixed : None, str or iterable of {'weights', 'means', 'covariances'}, default=None
        Known parameters, held at their ``weights_init``, ``means_init`` or
        ``precisions_init`` values (which must be given) during EM: the M-step
        estimates the others (covariances about the known means, say), and
        ``bic``/``aic`` count only the parameters estimated.
    stopping : {'lower_bound', 'parameters', 'both'}, default='lower_bound'
        When EM stops: scikit-learn's rule (the per-sample lower bound changes
        by less than ``tol``), when no parameter changes by more than
        ``param_tol`` any more, or when both hold. A parameter's change is
        measured free of the data's units: a weight by its absolute change, a
        mean by the length of its move in its component's own metric
        (Mahalanobis), a covariance by the largest entry of Uᵀ Σ' U − I, Σ'
        the new covariance and U the old precision factor.
    param_tol : float, default=1e-4
        The threshold of the parameter rule.
    missing : {'error', 'em'}, default='error'
        What a NaN entry of X is. 'error' (scikit-learn's behaviour) refuses
        it. 'em' treats it as a value missing at random, a latent variable of
        EM like the component labels: each row counts with the marginal
        density of its observed coordinates, and the M-step adds the
        conditional expectation and covariance of its missing ones, so the
        estimates are maximum likelihood on the observed data (not biased as
        after dropping rows or filling in means). Every covariance model
        supports it. ``score_samples``, ``predict`` and the other methods
        then accept NaN (the observed part's marginal); a row with no
        observed value gets the mixture's prior (log-likelihood 0,
        probabilities equal to the weights). :meth:`impute` fills missing
        entries, :meth:`sample_imputations` draws multiple imputations.
    accelerate : bool, default=False
        Extrapolate EM (SQUAREM, Varadhan & Roland 2008): after every two EM
        steps, a longer step along their direction, kept only when it does
        not lower the log-likelihood (otherwise EM goes on as if it had not
        been tried). It reaches the same optimum in fewer passes over the
        data where EM crawls (overlapping components); ``n_iter_`` counts
        the passes, rejected ones included. False keeps scikit-learn's iterates.

    Attributes
    ----------
    weights_ : ndarray of shape (n_components,)
        The weight of each mixture component.
    means_ : ndarray of shape (n_components, n_features)
        The mean of each mixture component.
    covariances_ : ndarray
        The covariance of each component, shaped by ``covariance_type``.
    precisions_ : ndarray
        The inverse covariances, shaped like ``covariances_``.
    precisions_cholesky_ : ndarray
        Upper-triangular U with precision = U Uᵀ (square roots for diag and spherical).
    converged_ : bool
        Whether the best initialisation converged.
    n_iter_ : int
        EM iterations of the best initialisation.
    lower_bound_ : float
        Mean (weighted) log-likelihood of the data at the last iteration of the
        best initialisation.
    lower_bounds_ : list of float
        The lower bound of each iteration of the best initialisation.
    n_features_in_ : int
        Number of features seen during fit.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Names of features seen during fit, when X has string column names.
    backend_ : str
        The backend that fitted the model.

    See Also
    --------
    sklearn.mixture.GaussianMixture : The estimator this one replaces.

    Examples
    --------
    >>> import numpy as np
    >>> from fastem import GaussianMixture
    >>> X = np.array([[1, 2], [1, 4], [1, 0], [10, 2], [10, 4], [10, 0]])
    >>> gm = GaussianMixture(n_components=2, random_state=0).fit(X)
    >>> np.round(np.sort(gm.means_[:, 0]), 3)
    array([ 1., 10.])
    >>> near_one, near_ten = gm.predict([[0, 0], [12, 3]])
    >>> bool(near_one == gm.predict([[1, 2]])[0] and near_ten == gm.predict([[10, 2]])[0])
    True
    """

    def __init__(
        self,
        n_components=1,
        *,
        covariance_type="full",
        tol=1e-3,
        reg_covar=1e-6,
        max_iter=100,
        n_init=1,
        init_params="kmeans",
        weights_init=None,
        means_init=None,
        precisions_init=None,
        random_state=None,
        warm_start=False,
        verbose=0,
        verbose_interval=10,
        backend="auto",
        n_jobs=None,
        fixed=None,
        stopping="lower_bound",
        param_tol=1e-4,
        missing="error",
        accelerate=False,
    ):
        self.n_components = n_components
        self.covariance_type = covariance_type
        self.tol = tol
        self.reg_covar = reg_covar
        self.max_iter = max_iter
        self.n_init = n_init
        self.init_params = init_params
        self.weights_init = weights_init
        self.means_init = means_init
        self.precisions_init = precisions_init
        self.random_state = random_state
        self.warm_start = warm_start
        self.verbose = verbose
        self.verbose_interval = verbose_interval
        self.backend = backend
        self.n_jobs = n_jobs
        self.fixed = fixed
        self.stopping = stopping
        self.param_tol = param_tol
        self.missing = missing
        self.accelerate = accelerate

    _covariance_types = COVARIANCE_TYPES

    # --- the hooks of BaseMixture -------------------------------------------------

    def _parameter_layout(self) -> str:
        return self._covariance_model().layout

    def _maximiser(self, init_arrays: dict, data=None):
        """The M-step: statistics and the previous covariances -> the next mixture."""
        model, reg_covar = self._covariance_model(), self.reg_covar
        fixed = self._fixed_parameters(init_arrays)

        def maximise(stats, previous):
            return m_step(stats, reg_covar, model, previous=previous, fixed=fixed)

        return maximise

    def _accelerator(self):
        return Squarem(self._covariance_model()) if self.accelerate else None

    def _initial_state(self, data, init_arrays, random_state, backend) -> EMRun:
        """The starting mixture and covariances, from (a sample of) the rows."""
        X, sample_weight = self._initialisation_rows(data, random_state)
        mixture, covariances = initial_mixture(
            X,
            sample_weight,
            n_components=self.n_components,
            model=self._covariance_model(),
            init_params=self.init_params,
            reg_covar=self.reg_covar,
            random_state=random_state,
            backend=backend,
            **init_arrays,
        )
        return EMRun(mixture, covariances, -np.inf)

    def _fixed_parameters(self, init_arrays: dict) -> FixedParameters | None:
        """The parameters ``fixed`` holds at their ``*_init`` values, or None."""
        names = _validation.fixed_names(self.fixed)
        if not names:
            return None
        layout = self._covariance_model().layout
        covariances = None
        if "covariances" in names:
            covariances = covariances_from_cholesky(
                precisions_cholesky_from_precisions(init_arrays["precisions_init"], layout), layout
            )
        return FixedParameters(
            weights=init_arrays["weights_init"] if "weights" in names else None,
            means=init_arrays["means_init"] if "means" in names else None,
            covariances=covariances,
        )

    def _checked_init_arrays(self, n_features):
        n_components = self.n_components
        return {
            "weights_init": None
            if self.weights_init is None
            else _validation.check_weights_init(self.weights_init, n_components),
            "means_init": None
            if self.means_init is None
            else _validation.check_means_init(self.means_init, n_components, n_features),
            "precisions_init": None
            if self.precisions_init is None
            else _validation.check_precisions_init(
                self.precisions_init, self._covariance_model().layout, n_components, n_features
            ),
        }

    def _set_fitted(self, run: EMRun, backend, dtype, online_state=None) -> None:
        """Replace every fitted attribute at once with the outcome of a fit.

        The public arrays follow the data's float dtype (float32 data gives
        float32 attributes, as scikit-learn ≥ 1.8); the internal mixture that
        warm starts and streams continue from stays float64.
        """
        state = self._run_state(run, backend, dtype)
        if online_state is not None:
            state["_online_state"] = online_state
        self.__dict__.update(state)

    # --- missing values -----------------------------------------------------------

    def impute(self, X):
        """X with each missing (NaN) entry replaced by its conditional expectation.

        E[x_M | x_O] = Σ_k p(k | x_O) (μ_kM + Σ_kMO Σ_kOO⁻¹ (x_O − μ_kO)): each
        component's regression of the missing coordinates on the observed
        ones, weighted by the component's probability given the observed
        ones. A row with no observed value becomes the mixture's mean
        Σ_k w_k μ_k. Works whatever ``missing`` was at fit time.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            The data, NaN marking missing entries (±inf is refused).

        Returns
        -------
        X_imputed : ndarray of shape (n_samples, n_features)
            A new array in the floating dtype of X; observed entries unchanged.

        Examples
        --------
        >>> import numpy as np
        >>> from fastem import GaussianMixture
        >>> rng = np.random.default_rng(0)
        >>> X = rng.multivariate_normal([0, 0], [[1, 0.9], [0.9, 1]], size=2000)
        >>> model = GaussianMixture(1, random_state=0).fit(X)
        >>> np.round(model.impute([[2.0, np.nan]]), 1)  # x₂ | x₁ = 2 has mean 0.9 · 2
        array([[2. , 1.8]])
        """
        return self._filled(X, None, None)[0]

    def sample_imputations(self, X, n_imputations=5, random_state=None):
        """Draws of the missing (NaN) entries of X from their conditional distribution.

        For each imputation and row a component is drawn from p(k | x_O), then
        x_M from N(μ_kM + Σ_kMO Σ_kOO⁻¹ (x_O − μ_kO), Σ_kMM − Σ_kMO Σ_kOO⁻¹ Σ_kOM):
        the multiple imputations of Rubin's rules, whose spread carries the
        uncertainty that a single :meth:`impute` hides.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            The data, NaN marking missing entries.
        n_imputations : int, default=5
            How many completed copies of X to draw.
        random_state : int, RandomState instance or None, default=None
            Seed of the draws.

        Returns
        -------
        X_imputed : ndarray of shape (n_imputations, n_samples, n_features)
            The completed copies; observed entries are those of X in each.
        """
        if isinstance(n_imputations, bool) or not isinstance(n_imputations, (int, np.integer)):
            raise TypeError(f"n_imputations must be an int; got {n_imputations!r}.")
        if n_imputations < 1:
            raise ValueError(f"n_imputations must be at least 1; got {n_imputations}.")
        return self._filled(X, int(n_imputations), check_random_state(random_state))

    def _filled(self, X, n_draws: int | None, random_state) -> np.ndarray:
        """(n_draws or 1, n, D) copies of X with the missing entries filled."""
        data = self._checked_input(X, missing=True)
        mixture = self._fitted_mixture()
        conditionals = _missing.Conditionals(mixture)
        out = np.empty((n_draws or 1, data.n_samples, data.n_features), dtype=data.dtype)
        for rows, resp in self._responsibility_chunks(data):
            block = np.asarray(data.X[rows], dtype=np.float64)
            for draw in range(n_draws or 1):
                out[draw, rows] = _missing.filled(block, resp, conditionals, random_state)
        return out

    # --- model selection --------------------------------------------------------

    def bic(self, X):
        """Bayesian information criterion of the model on X (lower is better).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            The data.

        Returns
        -------
        bic : float
        """
        n_samples = np.shape(X)[0]
        return -2 * self.score(X) * n_samples + self._n_parameters() * math.log(n_samples)

    def aic(self, X):
        """Akaike information criterion of the model on X (lower is better).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            The data.

        Returns
        -------
        aic : float
        """
        return -2 * self.score(X) * np.shape(X)[0] + 2 * self._n_parameters()

    def _n_parameters(self) -> int:
        """Number of free parameters of the model."""
        n_components, n_features = self.means_.shape
        fixed = _validation.fixed_names(self.fixed)
        counts = {
            "covariances": self._covariance_model().n_parameters(n_components, n_features),
            "means": n_features * n_components,
            "weights": n_components - 1,
        }
        return int(sum(count for name, count in counts.items() if name not in fixed))

    def _covariance_model(self) -> CovarianceModel:
        """The covariance model ``covariance_type`` names (:mod:`fastem.covariance`)."""
        return get_model(self.covariance_type)


_persistence.register(_persistence.FORMAT, GaussianMixture)
