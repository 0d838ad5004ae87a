"""Same seed, same bits (any thread count); an interrupted fit leaves no half-updated model."""

import numpy as np
import pytest

import fastem.gaussian_mixture
from fastem import GaussianMixture
from fastem.datasets import make_mixture

from .conftest import BACKENDS, COVARIANCE_TYPES

FITTED = ("weights_", "means_", "covariances_", "precisions_cholesky_", "lower_bound_")


@pytest.fixture(scope="module")
def X():
    return make_mixture(20_000, 4, 4, random_state=8)[0]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_same_seed_same_bits_for_any_thread_count(X, backend, covariance_type):
    fits = []
    for threads in (1, 2, 1):
        model = GaussianMixture(
            4,
            covariance_type=covariance_type,
            backend=backend,
            random_state=3,
            max_iter=20,
            n_jobs=threads,
        ).fit(X)
        fits.append(model)
    for other in fits[1:]:
        for name in FITTED:
            assert np.array_equal(getattr(fits[0], name), getattr(other, name)), name


class _Interrupt:
    """m_step that raises KeyboardInterrupt at its n-th call, as Ctrl-C would."""

    def __init__(self, monkeypatch, at_call):
        self.calls = 0
        self.at_call = at_call
        self.m_step = fastem.gaussian_mixture.m_step
        monkeypatch.setattr(fastem.gaussian_mixture, "m_step", self)

    def __call__(self, *args, **kwargs):
        self.calls += 1
        if self.calls == self.at_call:
            raise KeyboardInterrupt
        return self.m_step(*args, **kwargs)


def test_interrupted_first_fit_leaves_the_estimator_unfitted(X, monkeypatch):
    _Interrupt(monkeypatch, at_call=3)
    model = GaussianMixture(4, random_state=0, max_iter=10)
    with pytest.raises(KeyboardInterrupt):
        model.fit(X)
    assert not any(hasattr(model, name) for name in FITTED)


@pytest.mark.parametrize("warm_start", [False, True])
def test_interrupted_refit_keeps_the_last_complete_model(X, monkeypatch, warm_start):
    model = GaussianMixture(4, random_state=0, max_iter=5, warm_start=warm_start).fit(X)
    before = {name: np.copy(getattr(model, name)) for name in FITTED}
    _Interrupt(monkeypatch, at_call=1)
    with pytest.raises(KeyboardInterrupt):
        model.fit(X[::-1])
    for name, value in before.items():
        assert np.array_equal(getattr(model, name), value), name
    model.predict(X)  # and it still works
