"""Build the compiled extensions; all metadata lives in pyproject.toml.

fastem's Numba kernels need no build step. Cython extensions, when there are
any, are listed in ``EXTENSIONS`` and built optionally: a failed compile warns
and the install goes on without them.
"""

from setuptools import setup

EXTENSIONS = []

setup(ext_modules=EXTENSIONS)
