"""fastem: Gaussian mixture models fitted by EM, fast and lean, on every CPU core.

>>> from fastem import BayesianGaussianMixture, GaussianMixture
"""

from importlib import import_module
from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("fastem")
except PackageNotFoundError:  # a source tree that was never installed
    __version__ = "0+unknown"

# Public names and the modules that define them, imported on first use (PEP 562): importing
# the package (or a submodule such as its kernels) costs nothing until an estimator is used.
_PUBLIC = {
    "BayesianGaussianMixture": "bayesian_mixture",
    "DegenerateComponentWarning": "_recovery",
    "GaussianMixture": "gaussian_mixture",
    "GaussianMixtureSelection": "selection",
    "available_backends": "backends",
    "fit_file": "_fit_file",
    "load": "_persistence",
}


def __getattr__(name: str):
    if name not in _PUBLIC:
        raise AttributeError(f"module 'fastem' has no attribute {name!r}")
    value = getattr(import_module(f".{_PUBLIC[name]}", __name__), name)
    globals()[name] = value  # later lookups find it directly
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_PUBLIC))


__all__ = [
    "BayesianGaussianMixture",
    "DegenerateComponentWarning",
    "GaussianMixture",
    "GaussianMixtureSelection",
    "available_backends",
    "fit_file",
    "load",
    "__version__",
]
