"""fastem: Gaussian mixture models fitted by EM, fast and lean, on every CPU core.

>>> from fastem import BayesianGaussianMixture, GaussianMixture
"""

from importlib.metadata import PackageNotFoundError, version

from ._fit_file import fit_file
from ._persistence import load
from ._recovery import DegenerateComponentWarning
from .backends import available_backends
from .bayesian_mixture import BayesianGaussianMixture
from .gaussian_mixture import GaussianMixture
from .selection import GaussianMixtureSelection

try:
    __version__ = version("fastem")
except PackageNotFoundError:  # a source tree that was never installed
    __version__ = "0+unknown"

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
