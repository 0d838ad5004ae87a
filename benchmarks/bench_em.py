"""Time and memory of EM: one iteration, a whole fit, and scikit-learn as a baseline."""

from .common import SHAPES, dataset, initial_parameters, quiet, require_backend, set_threads


class EMIteration:
    """One EM iteration (fused E-step + M-step) of fastem on the reference shapes."""

    params = (list(SHAPES), ["full", "diag"], ["float64", "float32"], ["numba", "cython", "numpy"])
    param_names = ["shape", "covariance", "dtype", "backend"]
    timeout = 900

    def setup(self, shape, covariance, dtype, backend):
        from fastem import GaussianMixture

        require_backend(backend)
        set_threads()
        quiet()
        self.X = dataset(shape, dtype)
        n_components = SHAPES[shape][2]
        init = initial_parameters(self.X, n_components, covariance)
        self.model = GaussianMixture(
            n_components,
            covariance_type=covariance,
            tol=0.0,
            max_iter=1,
            warm_start=True,
            backend=backend,
            **init,
        )
        self.model.fit(self.X[:5000])  # compile or load the kernels outside the timing
        self.model = GaussianMixture(
            n_components,
            covariance_type=covariance,
            tol=0.0,
            max_iter=1,
            warm_start=True,
            backend=backend,
            **init,
        )
        self.model.fit(self.X)

    def time_em_iteration(self, shape, covariance, dtype, backend):
        self.model.fit(self.X)  # warm start: exactly one more iteration

    def peakmem_fit(self, shape, covariance, dtype, backend):
        self.model.fit(self.X)


class SklearnEMIteration:
    """The same iteration in scikit-learn: the baseline fastem is compared with."""

    params = (list(SHAPES), ["full", "diag"])
    param_names = ["shape", "covariance"]
    timeout = 900

    def setup(self, shape, covariance):
        from sklearn.mixture import GaussianMixture

        set_threads()
        quiet()
        self.X = dataset(shape)
        n_components = SHAPES[shape][2]
        init = initial_parameters(self.X, n_components, covariance)
        self.model = GaussianMixture(
            n_components, covariance_type=covariance, tol=0.0, max_iter=1, warm_start=True, **init
        ).fit(self.X)

    def time_em_iteration(self, shape, covariance):
        # E-step and M-step alone: fit() would add scikit-learn's final E-step
        _, log_resp = self.model._e_step(self.X)
        self.model._m_step(self.X, log_resp)

    def peakmem_fit(self, shape, covariance):
        self.model.fit(self.X)


class Fit:
    """A whole fit with the default k-means initialisation (fastem's numba backend)."""

    params = (list(SHAPES),)
    param_names = ["shape"]
    timeout = 900

    def setup(self, shape):
        from fastem import GaussianMixture

        set_threads()
        quiet()
        self.X = dataset(shape)
        self.n_components = SHAPES[shape][2]
        GaussianMixture(self.n_components, max_iter=2, random_state=0).fit(self.X[:5000])

    def time_fit(self, shape):
        from fastem import GaussianMixture

        GaussianMixture(self.n_components, max_iter=20, random_state=0).fit(self.X)

    def track_iterations(self, shape):
        from fastem import GaussianMixture

        return GaussianMixture(self.n_components, max_iter=200, random_state=0).fit(self.X).n_iter_

    track_iterations.unit = "iterations"


class ToConvergence:
    """The whole wait: fit() to a converged model with default settings, plain and accelerated."""

    params = (list(SHAPES), [False, True])
    param_names = ["shape", "accelerate"]
    timeout = 900

    def setup(self, shape, accelerate):
        from fastem import GaussianMixture

        set_threads()
        quiet()
        self.X = dataset(shape)
        self.n_components = SHAPES[shape][2]
        GaussianMixture(self.n_components, max_iter=2, random_state=0).fit(self.X[:5000])

    def _fit(self, accelerate):
        from fastem import GaussianMixture

        model = GaussianMixture(self.n_components, random_state=0, accelerate=accelerate)
        return model.fit(self.X)

    def time_to_convergence(self, shape, accelerate):
        self._fit(accelerate)

    def track_passes(self, shape, accelerate):
        return self._fit(accelerate).n_iter_

    track_passes.unit = "passes"

    def time_initialisation(self, shape, accelerate):
        from fastem import GaussianMixture

        GaussianMixture(self.n_components, max_iter=0, random_state=0).fit(self.X)
