"""Numba kernels (importing this package requires numba).

The kernels' on-disk cache is stamped by all of this package's sources
(:mod:`._cache`); the locator is registered here, before any kernel is defined.
"""

from . import _cache

_cache.register()
