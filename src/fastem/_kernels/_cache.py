"""Where Numba keeps the compiled kernels, and when a kept kernel is still valid.

Numba's own on-disk cache judges a compiled function by its own source file
only (its modification time, or in recent releases a hash of that file), but a
kernel here also inlines helpers from ``_common.py`` and ``_math.py``: a change
there would leave a stale kernel in use. :class:`KernelCacheLocator` keeps the
cache where Numba keeps it (``__pycache__`` beside the source) and stamps it
with a hash of every source file of this package, so any change to any kernel
invalidates them all, and a copy of the files (an installed wheel, whose files
get new modification times) still finds the cache that was filled when it was
built.

Defers to Numba where it cannot help: ``NUMBA_CACHE_DIR`` set by the user, a
read-only install (Numba then caches in the user's cache directory, stamped
its own way), or a Numba whose cache internals differ from the ones used here.
"""

from __future__ import annotations

import functools
import hashlib
import os
from pathlib import Path

from numba.core import caching, config

PACKAGE = Path(__file__).resolve().parent

# Numba ≥ 0.68 names these publicly; earlier releases with a leading underscore.
_InTreeCacheLocator = getattr(caching, "InTreeCacheLocator", None) or getattr(
    caching, "_InTreeCacheLocator", None
)
_CacheImpl = getattr(caching, "CacheImpl", None) or getattr(caching, "_CacheImpl", None)


@functools.lru_cache(maxsize=1)
def sources_digest() -> bytes:
    """SHA-256 of every ``.py`` file of this package, in name order."""
    digest = hashlib.sha256()
    for path in sorted(PACKAGE.glob("*.py")):
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.digest()


def register() -> bool:
    """Put :class:`KernelCacheLocator` first among Numba's locators; False if it cannot be."""
    locators = getattr(_CacheImpl, "_locator_classes", None)
    if _InTreeCacheLocator is None or not isinstance(locators, list):
        return False
    if KernelCacheLocator not in locators:
        locators.insert(0, KernelCacheLocator)
    return True


if _InTreeCacheLocator is not None:

    class KernelCacheLocator(_InTreeCacheLocator):
        """Numba's in-tree locator for this package's kernels, stamped by all of their sources."""

        def get_source_stamp(self):
            return sources_digest()

        @classmethod
        def from_function(cls, py_func, py_file):
            if config.CACHE_DIR or Path(os.path.abspath(py_file)).parent != PACKAGE:
                return None
            return super().from_function(py_func, py_file)

else:  # pragma: no cover - a Numba without the in-tree locator
    KernelCacheLocator = None
