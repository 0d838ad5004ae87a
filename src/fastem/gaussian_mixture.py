"""fastem.GaussianMixture: scikit-learn's estimator, fitted by fused compiled kernels."""

from __future__ import annotations

import math
import warnings

import numpy as np
from scipy.special import logsumexp
from sklearn.base import BaseEstimator, DensityMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted, validate_data

from . import _persistence, _validation
from ._dask import is_dask_array
from ._data import ArrayRows, is_out_of_core
from ._em import EMRun, run_em
from ._fitted_state import fitted_state_kept_on_failure
from ._initialization import initial_mixture
from ._mixture import (
    covariances_from_cholesky,
    far_rows_component,
    parameter_shape,
    precisions_cholesky_from_precisions,
    precisions_from_cholesky,
)
from ._mstep import FixedParameters, m_step
from ._progress import FitReporter, verbose_output
from ._threads import kernel_threads
from .backends import get_backend
from .covariance import CovarianceModel, get_model

INIT_ROWS_PER_COMPONENT = 20  # the least rows per component a sampled initialisation sees
PREDICT_CHUNK_BYTES = 1 << 24  # (rows × K) float64 log-probabilities held at once when predicting


class GaussianMixture(DensityMixin, BaseEstimator):
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
        The number of initializations; the best result is kept.
    init_params : {'kmeans', 'k-means++', 'hc', 'random', 'random_from_data'}, \
default='kmeans'
        How the initial responsibilities are chosen: fastem's own parallel
        k-means (k-means++ seeding then Lloyd iterations), k-means++ seeds
        alone, a hierarchical (Ward, i.e. model-based with EII's criterion)
        clustering of up to 2,000 rows as mclust starts, random
        responsibilities, or random data points as means.
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
        -1 means every core this process may use, -2 all but one. Results are
        bitwise identical whatever the thread count.
    fixed : None, str or iterable of {'weights', 'means', 'covariances'}, default=None
        Known parameters, held at their ``weights_init``, ``means_init`` or
        ``precisions_init`` values (which must be given) during EM: the M-step
        estimates the others (covariances about the known means, say), and
        ``bic``/``aic`` count only the parameters estimated.

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

    # --- fitting ---------------------------------------------------------------

    def fit(self, X, y=None, sample_weight=None):
        """Estimate the model parameters with the EM algorithm.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            The data; float32 stays float32, other numbers become float64.
        y : Ignored
            Not used, present for API consistency by convention.
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative row weights; an integer weight is the same as
            repeating the row that many times.

        Returns
        -------
        self : GaussianMixture
            The fitted mixture.

        Notes
        -----
        Every fitted attribute (``n_features_in_`` and ``feature_names_in_``
        included) is replaced at once when the fit completes; if it fails
        (bad data, a changed shape under ``warm_start``, Ctrl-C) the estimator
        keeps exactly the state it had.
        """
        self._fit(X, sample_weight)
        return self

    def fit_predict(self, X, y=None, sample_weight=None):
        """Fit the model and return the most probable component of each row of X.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            The data.
        y : Ignored
            Not used, present for API consistency by convention.
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative row weights.

        Returns
        -------
        labels : ndarray of shape (n_samples,)
            Component labels; equal to ``fit(X).predict(X)``.
        """
        data = self._fit(X, sample_weight)
        if is_dask_array(X):
            return self.predict(X)
        return self._labels(data)

    def _fit(self, X, sample_weight):
        _validation.check_parameters(self)
        with fitted_state_kept_on_failure(self):
            return self._fit_checked(X, sample_weight)

    def _fit_checked(self, X, sample_weight):
        self.__dict__.pop("_online_state", None)  # a fit ends any stream of partial_fit
        data = self._row_source(X, sample_weight, reset=True)
        if data.n_samples < self.n_components:
            raise ValueError(
                "Expected n_samples >= n_components "
                f"but got n_components = {self.n_components}, n_samples = {data.n_samples}"
            )
        init_arrays = self._checked_init_arrays(data.n_features)
        backend = get_backend(self.backend)
        with kernel_threads(backend, self.n_jobs), verbose_output(self.verbose):
            self._fit_em(data, init_arrays, backend)
        return data

    def _row_source(self, X, sample_weight, *, reset: bool, min_samples: int = 2):
        """The rows of X, checked: in memory, memory-mapped (chunked) or Dask.

        ``reset`` (a fit) also checks that the data's spread fits float64 sums.
        """
        X = _validation.numpy_input(X)
        if is_dask_array(X):
            from ._dask import DaskRows, prepared_array

            validate_data(self, prepared_array(X), skip_check_array=True, reset=reset)
            return DaskRows(X, sample_weight, self.n_jobs)
        if is_out_of_core(X):
            _validation.check_out_of_core_array(X, min_samples)
            validate_data(self, X, skip_check_array=True, reset=reset)
            weights = _validation.sample_weight_array(sample_weight, X.shape[0])
            data = ArrayRows.out_of_core(X, weights)
            data.check_finite(spread=reset)
            return data
        X = validate_data(
            self,
            X,
            reset=reset,
            dtype=[np.float64, np.float32],
            order="C",
            ensure_min_samples=min_samples,
            ensure_all_finite=False,
        )
        low, high = _validation.check_finite(X)
        if reset:
            _validation.check_spread(X, low, high, X.dtype)
        return ArrayRows(X, _validation.check_sample_weight(sample_weight, X.shape[0]))

    def _fit_em(self, data, init_arrays, backend) -> None:
        do_init = not (self.warm_start and hasattr(self, "converged_"))
        if not do_init:
            self._check_continuation(
                data.n_features,
                "warm_start=True continues the fitted model",
                "set warm_start=False to fit anew",
            )
        n_init = self.n_init if do_init else 1
        random_state = check_random_state(self.random_state)

        reporter = FitReporter(self.verbose, self.verbose_interval, n_init, self.max_iter)
        best = None
        for init in range(n_init):
            reporter.init_start(init)
            if do_init:
                start = EMRun(
                    *self._initial_mixture(data, init_arrays, random_state, backend), -np.inf
                )
            else:
                start = EMRun(self._mixture, self.covariances_, self.lower_bound_)
            if self.max_iter == 0:
                best = EMRun(start.mixture, start.covariances, -np.inf)
                continue
            run = run_em(
                data,
                start,
                backend=backend,
                model=self._covariance_model(),
                reg_covar=self.reg_covar,
                fixed=self._fixed_parameters(init_arrays),
                max_iter=self.max_iter,
                tol=self.tol,
                on_iteration=reporter.iteration,
            )
            reporter.init_end(run.lower_bound, run.converged)
            if best is None or run.lower_bound > best.lower_bound:
                best = run

        data.ensure_checked()  # a Dask fit without EM iterations has not seen every row
        if not best.converged and self.max_iter > 0:
            warnings.warn(
                "Best performing initialization did not converge. Try different init "
                "parameters, or increase max_iter, tol, or check for degenerate data.",
                ConvergenceWarning,
                stacklevel=3,
            )
        self._set_fitted(best, backend, data.dtype)

    def _check_continuation(self, n_features: int, what: str, remedy: str) -> None:
        """Raise if the parameters or the data no longer match the fitted model."""
        fitted = self._mixture
        changes = [
            f"{name} is {now!r} but the model was fitted with {then!r}"
            for name, now, then in (
                ("n_components", self.n_components, fitted.n_components),
                ("the number of features", n_features, fitted.n_features),
            )
            if now != then
        ]
        if self._covariance_model().layout != fitted.covariance_type:
            changes.append(
                f"covariance_type is {self.covariance_type!r} but the model was "
                f"fitted with {fitted.covariance_type!r} covariances"
            )
        if changes:
            raise ValueError(f"{what}, but {'; '.join(changes)}: {remedy}.")

    def _initial_mixture(self, data, init_arrays, random_state, backend):
        """The starting mixture and covariances, from (a sample of) the rows."""
        X, sample_weight = data.initialisation_rows(
            random_state, min_rows=INIT_ROWS_PER_COMPONENT * self.n_components
        )
        return initial_mixture(
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

    def partial_fit(self, X, y=None, sample_weight=None):
        """Update the model with one mini-batch of a stream: one step of stepwise EM.

        The batch's sufficient statistics under the current parameters are
        blended into a running average with step size η_t = (t + 1)^(−0.7)
        (t batches seen before; :mod:`fastem._online` documents the
        schedule), then the M-step gives the new parameters. Each row is read
        once, so a stream that cannot be replayed can be fitted; for data that
        can be re-read, :meth:`fit` (on an array, a memory-mapped file or a
        Dask array) converges in fewer passes.

        The first call on an unfitted model initialises the mixture from its
        batch (``init_params``, ``*_init``; the batch needs at least
        ``n_components`` rows); after :meth:`fit`, batches continue from the
        fitted parameters. ``n_iter_`` counts the batches seen,
        ``lower_bound_`` is the mean log-likelihood of the last batch under
        the parameters it entered with, and ``converged_`` stays False (a
        stream has no end to converge at). A batch with another number of
        features, or a call after ``set_params`` changed ``n_components`` or
        ``covariance_type``, raises a ValueError and leaves the model as it
        was; so does any failure during the call.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            One mini-batch.
        y : Ignored
            Not used, present for API consistency by convention.
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative row weights.

        Returns
        -------
        self : GaussianMixture
            The updated mixture.

        Examples
        --------
        >>> import numpy as np
        >>> from fastem import GaussianMixture
        >>> rng = np.random.default_rng(0)
        >>> stream = (np.r_[rng.normal(-5, 1, (500, 1)), rng.normal(5, 1, (500, 1))]
        ...           for _ in range(20))
        >>> model = GaussianMixture(2, random_state=0)
        >>> for batch in stream:
        ...     model = model.partial_fit(rng.permutation(batch))
        >>> np.round(np.sort(model.means_[:, 0]))
        array([-5.,  5.])
        """
        _validation.check_parameters(self)
        with fitted_state_kept_on_failure(self):
            self._partial_fit_checked(X, sample_weight)
        return self

    def _partial_fit_checked(self, X, sample_weight) -> None:
        from . import _online

        first_batch = not hasattr(self, "n_features_in_")
        X = validate_data(
            self,
            _validation.numpy_input(X),
            reset=first_batch,
            dtype=[np.float64, np.float32],
            order="C",
            ensure_all_finite=False,
        )
        _validation.check_spread(X, *_validation.check_finite(X), X.dtype)
        sample_weight = _validation.check_sample_weight(sample_weight, X.shape[0])
        backend = get_backend(self.backend)
        with kernel_threads(backend, self.n_jobs):
            if hasattr(self, "converged_"):
                self._check_continuation(
                    X.shape[1],
                    "partial_fit continues the fitted model",
                    "fit a new estimator for the new setting",
                )
                mixture, covariances = self._mixture, self.covariances_
            else:
                if X.shape[0] < self.n_components:
                    raise ValueError(
                        f"The first batch has {X.shape[0]} rows; it needs at least "
                        f"n_components = {self.n_components} to initialise the mixture."
                    )
                mixture, covariances = self._initial_mixture(
                    ArrayRows(X, sample_weight),
                    self._checked_init_arrays(X.shape[1]),
                    check_random_state(self.random_state),
                    backend,
                )
            state, lower_bound = _online.step(
                getattr(self, "_online_state", None), X, sample_weight, mixture, backend
            )
            mixture, covariances, _ = m_step(
                state.statistics,
                self.reg_covar,
                self._covariance_model(),
                previous=covariances,
                fixed=self._fixed_parameters(self._checked_init_arrays(X.shape[1])),
            )
        streaming = hasattr(self, "_online_state")  # False on a first batch or after fit
        n_steps = self.n_iter_ + 1 if streaming else 1
        lower_bounds = (self.lower_bounds_ if streaming else []) + [lower_bound]
        self._set_fitted(
            EMRun(mixture, covariances, lower_bound, n_steps, False, lower_bounds),
            backend,
            X.dtype,
            online_state=state,
        )

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
        mixture = run.mixture
        precisions = precisions_from_cholesky(mixture.precisions_cholesky, mixture.covariance_type)
        state = {
            "_mixture": mixture,
            "weights_": mixture.weights,
            "means_": mixture.means,
            "covariances_": run.covariances,
            "precisions_cholesky_": mixture.precisions_cholesky,
            "precisions_": precisions,
        }
        state = {
            name: np.asarray(value).astype(dtype, copy=False) if name.endswith("_") else value
            for name, value in state.items()
        }
        state.update(
            converged_=run.converged,
            n_iter_=run.n_iter,
            lower_bound_=run.lower_bound,
            lower_bounds_=run.lower_bounds,
            backend_=backend.name,
        )
        if online_state is not None:
            state["_online_state"] = online_state
        self.__dict__.update(state)

    def _restore_mixture(self) -> None:
        """Rebuild the internal Mixture from the fitted attributes (after loading)."""
        self._mixture = _validation.fitted_mixture(self)

    def save(self, path) -> None:
        """Save the fitted model to a ``.npz`` file that :func:`fastem.load` reads.

        The file holds plain arrays and JSON, no pickle (the format is described
        in :mod:`fastem._persistence`), with the format version and the fastem
        version that wrote it.

        Parameters
        ----------
        path : str or path-like
            Where to write; the name is used as given.

        Examples
        --------
        >>> import os, tempfile
        >>> import numpy as np
        >>> from fastem import GaussianMixture, load
        >>> X = np.random.default_rng(0).normal(size=(200, 2))
        >>> model = GaussianMixture(2, random_state=0).fit(X)
        >>> path = os.path.join(tempfile.mkdtemp(), "model.npz")
        >>> model.save(path)
        >>> bool(np.array_equal(load(path).predict_proba(X), model.predict_proba(X)))
        True
        """
        _persistence.save(self, path)

    # --- prediction -----------------------------------------------------------

    def _checked_input(self, X) -> ArrayRows:
        """The rows of X to predict on: in memory, or a memory map read in chunks."""
        check_is_fitted(self)
        return self._row_source(X, None, reset=False, min_samples=1)

    def _weighted_log_prob_chunks(self, data: ArrayRows, *, resolve_far_rows: bool = False):
        """(rows, log(w_k N(x | k))) for consecutive chunks of rows: never all N×K at once.

        A row so far from every component that ½‖(x − μ_k) U_k‖² overflows has
        no finite log-density (its score is −inf); with ``resolve_far_rows``
        its log-probabilities become 0 for the component it tends to as it
        moves away (:func:`~fastem._mixture.far_rows_component`) and −inf for
        the others, so labels and probabilities stay defined.
        """
        backend = get_backend(self.backend)
        mixture = _validation.fitted_mixture(self)
        n_rows = max(1, PREDICT_CHUNK_BYTES // (8 * mixture.n_components))
        for rows, chunk, _ in data.chunks():
            for start in range(0, chunk.shape[0], n_rows):
                part = slice(start, min(start + n_rows, chunk.shape[0]))
                with kernel_threads(backend, self.n_jobs):
                    log_prob = backend.weighted_log_prob(chunk[part], mixture)
                log_prob[np.isnan(log_prob)] = -np.inf  # inf − inf in an overflowing distance
                if resolve_far_rows:
                    far = ~np.any(np.isfinite(log_prob), axis=1)
                    if np.any(far):
                        nearest = far_rows_component(chunk[part][far], mixture)
                        log_prob[far] = -np.inf
                        log_prob[np.flatnonzero(far), nearest] = 0.0
                yield slice(rows.start + part.start, rows.start + part.stop), log_prob
            del chunk

    def _labels(self, data: ArrayRows):
        labels = np.empty(data.n_samples, dtype=np.intp)
        for rows, log_prob in self._weighted_log_prob_chunks(data, resolve_far_rows=True):
            labels[rows] = np.argmax(log_prob, axis=1)
        return labels

    def _map_dask(self, method: str, X):
        from ._dask import map_rows

        check_is_fitted(self)
        return map_rows(self, method, X)

    def predict(self, X):
        """Predict the most probable component of each row of X.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            The data.

        Returns
        -------
        labels : ndarray of shape (n_samples,)
            Component labels.
        """
        if is_dask_array(X):
            return self._map_dask("predict", X)
        return self._labels(self._checked_input(X))

    def predict_proba(self, X):
        """Posterior probability of each component for each row of X.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            The data.

        Returns
        -------
        resp : ndarray of shape (n_samples, n_components)
            Responsibilities, in the floating dtype of X.
        """
        if is_dask_array(X):
            return self._map_dask("predict_proba", X)
        data = self._checked_input(X)
        resp = np.empty((data.n_samples, self.weights_.shape[0]), dtype=data.dtype)
        for rows, log_prob in self._weighted_log_prob_chunks(data, resolve_far_rows=True):
            resp[rows] = np.exp(log_prob - logsumexp(log_prob, axis=1)[:, None])
        return resp

    def score_samples(self, X):
        """Log-likelihood of each row of X under the model.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            The data.

        Returns
        -------
        log_prob : ndarray of shape (n_samples,)
            log p(x) for each row, in the floating dtype of X.
        """
        if is_dask_array(X):
            return self._map_dask("score_samples", X)
        data = self._checked_input(X)
        log_prob_norm = np.empty(data.n_samples, dtype=data.dtype)
        for rows, log_prob in self._weighted_log_prob_chunks(data):
            log_prob_norm[rows] = logsumexp(log_prob, axis=1)
        return log_prob_norm

    def score(self, X, y=None):
        """Mean log-likelihood of the rows of X under the model.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            The data.
        y : Ignored
            Not used, present for API consistency by convention.

        Returns
        -------
        log_likelihood : float
            The per-sample average log-likelihood.
        """
        return float(np.mean(self.score_samples(X), dtype=np.float64))

    def sample(self, n_samples=1):
        """Draw random samples from the fitted mixture.

        Parameters
        ----------
        n_samples : int, default=1
            Number of samples to generate.

        Returns
        -------
        X : ndarray of shape (n_samples, n_features)
            The samples, grouped by component.
        y : ndarray of shape (n_samples,)
            The component each sample was drawn from.
        """
        mixture = _validation.fitted_mixture(self)
        if n_samples < 1:
            raise ValueError(
                f"Invalid value for 'n_samples': {n_samples}. The sampling requires at "
                "least one sample."
            )
        covariances = np.asarray(self.covariances_, dtype=np.float64)
        expected = parameter_shape(
            mixture.covariance_type, mixture.n_components, mixture.n_features
        )
        if covariances.shape != expected:
            raise ValueError(
                f"The fitted covariances_ has shape {covariances.shape}; the "
                f"model needs {expected}."
            )
        rng = check_random_state(self.random_state)
        counts = rng.multinomial(n_samples, mixture.weights)
        parts = []
        for k, (mean, count) in enumerate(zip(mixture.means, counts, strict=True)):
            if mixture.covariance_type in ("full", "tied"):
                cov = covariances[k] if mixture.covariance_type == "full" else covariances
                parts.append(rng.multivariate_normal(mean, cov, int(count)))
            else:
                scale = np.sqrt(covariances[k])
                parts.append(mean + rng.standard_normal(size=(count, mixture.n_features)) * scale)
        labels = np.repeat(np.arange(mixture.n_components), counts)
        return np.vstack(parts), labels

    # --- model selection --------------------------------------------------------

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


_persistence.register(_persistence.FORMAT, GaussianMixture)
