"""fastem: Gaussian mixture models fitted by EM, fast and lean, on every CPU core.

>>> from fastem import GaussianMixture
"""

from .backends import available_backends
from .gaussian_mixture import GaussianMixture

try:
    from ._version import version as __version__
except ImportError:  # running from a source tree that was never installed
    __version__ = "0.0.0+unknown"

__all__ = ["GaussianMixture", "available_backends", "__version__"]
