"""BaseMixture: what every fastem mixture estimator shares.

The estimator-level machinery written once, as in scikit-learn's
``sklearn/mixture/_base.py``: checking the rows (in memory, memory-mapped,
Dask), restarts, the EM loop and its convergence, warm starts and streams,
replacing the fitted state whole (or keeping it on failure), the final
E-step, warnings, and every prediction method. A concrete mixture fills the
hooks:

- ``_checked_init_arrays(n_features)``: its user-given initial values (or priors), checked;
- ``_with_data(init_arrays, data, backend)``: those completed from the data (default: as given);
- ``_initial_state(data, init_arrays, random_state, backend)``: the start of one run;
- ``_maximiser(init_arrays, data)``: its M-step, statistics -> (mixture, covariances, repaired);
- ``_lower_bound(init_arrays, data)``: its objective, if not the log-likelihood;
- ``_parameter_layout()``: the layout the kernels evaluate it in;
- ``_set_fitted(run, backend, dtype, online_state)``: its fitted attributes;
- ``_fitted_mixture()``: the fitted parameters the kernels predict with, checked.

:class:`StreamingMixin` adds ``partial_fit`` (stepwise EM on mini-batches).
"""

from __future__ import annotations

import warnings

import numpy as np
from scipy.special import logsumexp
from sklearn.base import BaseEstimator, DensityMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted, validate_data

from . import _missing, _persistence, _validation
from ._dask import is_dask_array
from ._data import INIT_ROWS_PER_COMPONENT, KMEANS_SAMPLE_ROWS, ArrayRows, is_out_of_core
from ._em import EMRun, StoppingRule, run_em
from ._fitted_state import fitted_state_kept_on_failure
from ._mixture import far_rows_component, parameter_shape, precisions_from_cholesky
from ._progress import FitReporter, verbose_output
from ._threads import kernel_threads
from .backends import get_backend
from .backends._compile import families_for

PREDICT_CHUNK_BYTES = 1 << 24  # (rows × K) float64 log-probabilities held at once when predicting


class BaseMixture(DensityMixin, BaseEstimator):
    """Base of fastem's mixtures: fitting, streaming and predicting, written once."""

    _saved_array_names: tuple = ()  # fitted arrays a saved model holds besides the common ones

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

    def _check_hyperparameters(self) -> None:
        """Raise on a constructor parameter out of its range (before any work)."""
        _validation.check_parameters(self)

    def _fit(self, X, sample_weight):
        self._check_hyperparameters()
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
            backend.prepare(self._kernel_families(), data.dtype)  # compiling stays off the clock
            init_arrays = self._with_data(init_arrays, data, backend)
            self._fit_em(data, init_arrays, backend)
        return data

    def _kernel_families(self) -> tuple[str, ...]:
        """The kernel families a fit calls: its layout's, and k-means' for a k-means start."""
        kmeans = isinstance(self.init_params, str) and self.init_params in ("kmeans", "k-means++")
        return families_for(self._parameter_layout(), kmeans)

    def _initialisation_rows(self, data, random_state, init_params=None):
        """The rows (and weights) a start is computed on: all, or a sample of a large source.

        A k-means start ('kmeans', 'k-means++') looks at a uniform sample of at
        most ``KMEANS_SAMPLE_ROWS`` rows (or 20 per component); the other
        starts see every row in memory, so that 'random' and 'random_from_data'
        draw what scikit-learn draws. With missing values, each NaN of those
        rows is replaced by its column's mean over them (a new array), so that
        the start can be computed; EM itself then treats the entries as missing.
        ``init_params`` overrides the estimator's (for a start made elsewhere).
        """
        init_params = self.init_params if init_params is None else init_params
        min_rows = INIT_ROWS_PER_COMPONENT * self.n_components
        sampled = isinstance(init_params, str) and init_params in ("kmeans", "k-means++")
        X, weights = data.initialisation_rows(
            random_state,
            min_rows=min_rows,
            max_rows=max(KMEANS_SAMPLE_ROWS, min_rows) if sampled else None,
        )
        if self._fits_missing():
            X = _missing.mean_filled(X)
        return X, weights

    def _fits_missing(self) -> bool:
        """Whether NaN entries are missing values (``missing='em'``) rather than an error."""
        return getattr(self, "missing", "error") == "em"

    def _run_state(self, run: EMRun, backend, dtype) -> dict:
        """The fitted attributes every mixture has, from the outcome of a fit.

        The public arrays follow the data's float dtype (float32 data gives
        float32 attributes, as scikit-learn ≥ 1.8); the internal mixture that
        warm starts and streams continue from stays float64.
        """
        mixture = run.mixture
        arrays = {
            "weights_": mixture.weights,
            "means_": mixture.means,
            "covariances_": run.covariances,
            "precisions_cholesky_": mixture.precisions_cholesky,
            "precisions_": precisions_from_cholesky(
                mixture.precisions_cholesky, mixture.covariance_type
            ),
        }
        state = {
            name: np.asarray(value).astype(dtype, copy=False) for name, value in arrays.items()
        }
        state.update(
            _mixture=mixture,
            converged_=run.converged,
            n_iter_=run.n_iter,
            lower_bound_=run.lower_bound,
            lower_bounds_=run.lower_bounds,
            backend_=backend.name,
        )
        return state

    def _with_data(self, init_arrays: dict, data, backend) -> dict:
        """The checked initial values, completed from the data where they depend on it."""
        return init_arrays

    def _lower_bound(self, init_arrays: dict, data):
        """The objective EM maximises, if not the mean log-likelihood (None)."""
        return None

    def _fitted_mixture(self):
        """The fitted parameters the kernels evaluate, checked against the estimator."""
        return _validation.fitted_mixture(self)

    def _saved_arrays(self) -> dict:
        """The fitted arrays (named in ``_saved_array_names``) a saved model holds in addition."""
        return {}

    def _saved_shapes(self, n_components: int, n_features: int) -> dict:
        """The shape each of those arrays must have, for :func:`fastem.load`."""
        return {}

    def _load_arrays(self, arrays: dict) -> None:
        """Set the attributes :meth:`_saved_arrays` wrote, from a loaded file."""

    def _restore_mixture(self) -> None:
        """Rebuild the internal mixture from the fitted attributes (after loading)."""
        self._mixture = self._fitted_mixture()

    def _row_source(
        self, X, sample_weight, *, reset: bool, min_samples: int = 2, missing: bool | None = None
    ):
        """The rows of X, checked: in memory, memory-mapped (chunked) or Dask.

        ``reset`` (a fit) also checks that the data's spread fits float64 sums.
        ``missing`` says whether NaN entries are missing values (default: as
        the estimator's ``missing`` parameter says).
        """
        missing = self._fits_missing() if missing is None else missing
        X = _validation.numpy_input(X)
        if is_dask_array(X):
            from ._dask import DaskRows, prepared_array

            validate_data(self, prepared_array(X), skip_check_array=True, reset=reset)
            return DaskRows(X, sample_weight, self.n_jobs, missing=missing)
        if is_out_of_core(X):
            _validation.check_out_of_core_array(X, min_samples)
            validate_data(self, X, skip_check_array=True, reset=reset)
            weights = _validation.sample_weight_array(sample_weight, X.shape[0])
            data = ArrayRows.out_of_core(X, weights, missing=missing)
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
        low, high = _validation.check_finite(X, allow_nan=missing)
        if reset:
            _validation.check_spread(X, low, high, X.dtype)
        weights, unit = _validation.scaled_sample_weight(sample_weight, X.shape[0])
        data = ArrayRows(X, weights, missing=missing)
        data.weight_unit = unit
        return data

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
                start = self._initial_state(data, init_arrays, random_state, backend)
            else:
                start = EMRun(self._mixture, self.covariances_, self.lower_bound_)
            if self.max_iter == 0:
                best = EMRun(start.mixture, start.covariances, -np.inf)
                continue
            run = run_em(
                data,
                start,
                backend=backend,
                maximise=self._maximiser(init_arrays, data),
                lower_bound=self._lower_bound(init_arrays, data),
                stopping=self._stopping_rule(),
                accelerate=self._accelerator(),
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

    def _accelerator(self):
        """The extrapolation of EM steps the parameters ask for (None: plain EM)."""
        return None

    def _stopping_rule(self) -> StoppingRule | None:
        """The stopping rule the parameters ask for (None: scikit-learn's)."""
        stopping = getattr(self, "stopping", "lower_bound")
        if stopping == "lower_bound":
            return None
        return StoppingRule(stopping, self.param_tol)

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
        if self._parameter_layout() != fitted.covariance_type:
            changes.append(
                f"covariance_type is {self.covariance_type!r} but the model was "
                f"fitted with {fitted.covariance_type!r} covariances"
            )
        if changes:
            raise ValueError(f"{what}, but {'; '.join(changes)}: {remedy}.")

    # --- prediction -----------------------------------------------------------

    def _checked_input(self, X, missing: bool | None = None) -> ArrayRows:
        """The rows of X to predict on: in memory, or a memory map read in chunks."""
        check_is_fitted(self)
        return self._row_source(X, None, reset=False, min_samples=1, missing=missing)

    def _weighted_log_prob_chunks(self, data: ArrayRows, *, resolve_far_rows: bool = False):
        """(rows, log(w_k N(x | k))) for consecutive chunks of rows: never all N×K at once.

        A row so far from every component that ½‖(x − μ_k) U_k‖² overflows has
        no finite log-density (its score is −inf); with ``resolve_far_rows``
        its log-probabilities become 0 for the component it tends to as it
        moves away (:func:`~fastem._mixture.far_rows_component`) and −inf for
        the others, so labels and probabilities stay defined.
        """
        backend = get_backend(self.backend)
        mixture = self._fitted_mixture()
        n_rows = max(1, PREDICT_CHUNK_BYTES // (8 * mixture.n_components))

        def evaluate(rows, mixture):
            with kernel_threads(backend, self.n_jobs):
                log_prob = backend.weighted_log_prob(rows, mixture)
            log_prob[np.isnan(log_prob)] = -np.inf  # inf − inf in an overflowing distance
            if resolve_far_rows:
                far = ~np.any(np.isfinite(log_prob), axis=1)
                if np.any(far):
                    nearest = far_rows_component(rows[far], mixture)
                    log_prob[far] = -np.inf
                    log_prob[np.flatnonzero(far), nearest] = 0.0
            return log_prob

        conditionals = None
        for rows, chunk, _ in data.chunks():
            for start in range(0, chunk.shape[0], n_rows):
                part = slice(start, min(start + n_rows, chunk.shape[0]))
                if data.missing:
                    conditionals = conditionals or _missing.Conditionals(mixture)
                    log_prob = _missing.by_pattern(chunk[part], mixture, evaluate, conditionals)
                else:
                    log_prob = evaluate(chunk[part], mixture)
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
        for rows, chunk_resp in self._responsibility_chunks(data):
            resp[rows] = chunk_resp
        return resp

    def _responsibility_chunks(self, data: ArrayRows):
        """(rows, p(k | x)) for consecutive chunks of rows."""
        for rows, log_prob in self._weighted_log_prob_chunks(data, resolve_far_rows=True):
            yield rows, np.exp(log_prob - logsumexp(log_prob, axis=1)[:, None])

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

    # --- sampling and saving ----------------------------------------------------

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
        mixture = self._fitted_mixture()
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


class StreamingMixin:
    """``partial_fit``: stepwise EM on a stream of mini-batches (for BaseMixture subclasses)."""

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
        self._check_hyperparameters()
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
        low, high = _validation.check_finite(X, allow_nan=self._fits_missing())
        _validation.check_spread(X, low, high, X.dtype)
        sample_weight = _validation.check_sample_weight(sample_weight, X.shape[0])
        backend = get_backend(self.backend)
        init_arrays = self._checked_init_arrays(X.shape[1])
        batch = ArrayRows(X, sample_weight, missing=self._fits_missing())
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
                start = self._initial_state(
                    batch,
                    init_arrays,
                    check_random_state(self.random_state),
                    backend,
                )
                mixture, covariances = start.mixture, start.covariances
            state, lower_bound = _online.step(
                getattr(self, "_online_state", None),
                batch,
                mixture,
                backend,
            )
            maximise = self._maximiser(init_arrays, None)
            mixture, covariances, _ = maximise(state.statistics, covariances)
        streaming = hasattr(self, "_online_state")  # False on a first batch or after fit
        n_steps = self.n_iter_ + 1 if streaming else 1
        lower_bounds = (self.lower_bounds_ if streaming else []) + [lower_bound]
        self._set_fitted(
            EMRun(mixture, covariances, lower_bound, n_steps, False, lower_bounds),
            backend,
            X.dtype,
            online_state=state,
        )
