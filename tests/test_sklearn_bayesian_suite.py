"""scikit-learn's own tests of BayesianGaussianMixture, run against fastem's.

The module ``sklearn/mixture/tests/test_bayesian_mixture.py`` ships in
scikit-learn's wheel; its tests are collected here with the estimator it
imports replaced by :class:`fastem.BayesianGaussianMixture`. Left out, as
they test scikit-learn's private functions rather than the estimator:
``test_log_dirichlet_norm`` and ``test_log_wishart_norm`` (module-level
helpers) and ``test_compare_covar_type`` (calls the private
``_check_parameters`` and ``_initialize_parameters``). The README lists them.
"""

import pytest

import fastem

suite = pytest.importorskip("sklearn.mixture.tests.test_bayesian_mixture")

PRIVATE = {"test_log_dirichlet_norm", "test_log_wishart_norm", "test_compare_covar_type"}


@pytest.fixture(autouse=True)
def _fastem_estimator(monkeypatch):
    monkeypatch.setattr(suite, "BayesianGaussianMixture", fastem.BayesianGaussianMixture)


for _name in dir(suite):
    if _name.startswith("test_") and _name not in PRIVATE:
        globals()[_name] = getattr(suite, _name)


def test_the_suite_is_collected():
    """Guard: the borrowed tests exist (a renamed module would otherwise pass silently)."""
    borrowed = [name for name in dir(suite) if name.startswith("test_") and name not in PRIVATE]
    assert len(borrowed) >= 10
    assert suite.BayesianGaussianMixture is fastem.BayesianGaussianMixture
