"""Build the Cython kernels and fill Numba's cache; all metadata lives in pyproject.toml.

The extensions in ``src/fastem/_cython`` are optional: they are the compiled
fallback for machines without Numba. They are built with OpenMP where the
compiler supports it (else serially) and, unless ``FASTEM_BUILD_NATIVE=0``,
for the CPU that builds them (``-march=native``; set it to 0 for a portable
wheel). A failed compile warns and the install goes on without them: fastem
then runs on Numba alone.

The build also compiles the Numba kernels for the CPU that builds them and
ships Numba's cache of them in the package (``python -m
fastem.backends._compile``), so a first fit loads them instead of waiting a
minute for them; ``FASTEM_PRECOMPILE=0`` skips that (they are then compiled on
first use), and a failure only warns.
"""

import os
import subprocess
import sys
import tempfile
import textwrap
import warnings

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext
from setuptools.command.build_py import build_py

CYTHON_MODULES = ("_openmp", "full", "diag", "kmeans")

# Numba's fastmath set for the kernels (no finite-math: log-sum-exp meets −inf).
GCC_FLAGS = ["-O3", "-ffp-contract=fast", "-fno-math-errno", "-fno-trapping-math",
             "-fno-signed-zeros", "-fassociative-math", "-freciprocal-math"]
MSVC_FLAGS = ["/O2", "/fp:fast"]
OPENMP_FLAGS = {"msvc": (["/openmp"], [])}
GCC_OPENMP = (["-fopenmp"], ["-fopenmp"])

OPENMP_PROBE = textwrap.dedent("""\
    #include <omp.h>
    int main(void) {
        int n = 0;
        #pragma omp parallel reduction(+: n)
        n += 1;
        return n > 0 ? 0 : 1;
    }
    """)


def _warn(message):
    warnings.warn(message, stacklevel=1)
    print(f"WARNING: {message}", file=sys.stderr)


def _compiles(compiler, code, compile_flags, link_flags):
    """Whether ``code`` compiles and links with these flags."""
    with tempfile.TemporaryDirectory() as directory:
        source = os.path.join(directory, "probe.c")
        with open(source, "w") as handle:
            handle.write(code)
        try:
            objects = compiler.compile([source], output_dir=directory,
                                       extra_postargs=compile_flags)
            compiler.link_executable(objects, os.path.join(directory, "probe"),
                                     extra_postargs=link_flags)
        except Exception:
            return False
    return True


class OptionalBuildExt(build_ext):
    """build_ext that probes OpenMP and CPU flags, and never fails the install."""

    def build_extensions(self):
        compiler_type = self.compiler.compiler_type
        if compiler_type == "msvc":
            compile_flags, link_flags = list(MSVC_FLAGS), []
            openmp = OPENMP_FLAGS["msvc"]
        else:
            compile_flags = [flag for flag in GCC_FLAGS
                             if _compiles(self.compiler, "int main(void){return 0;}", [flag], [])]
            if os.environ.get("FASTEM_BUILD_NATIVE", "1") != "0" and _compiles(
                    self.compiler, "int main(void){return 0;}", ["-march=native"], []):
                compile_flags.append("-march=native")
            link_flags = []
            openmp = GCC_OPENMP
        if os.environ.get("FASTEM_BUILD_OPENMP", "1") != "0" and _compiles(
                self.compiler, OPENMP_PROBE, openmp[0], openmp[1]):
            compile_flags += openmp[0]
            link_flags += openmp[1]
        else:
            _warn("fastem: building the Cython kernels without OpenMP; they will run on "
                  "one thread (Numba's kernels are unaffected).")
        if DEBUG:  # AddressSanitizer: reads through raw pointers are checked too
            compile_flags += SANITIZER_FLAGS
            link_flags += SANITIZER_FLAGS
        for extension in self.extensions:
            if DEBUG:
                extension.define_macros.append(("FASTEM_DEBUG_BUILD", "1"))
            extension.extra_compile_args = compile_flags + extension.extra_compile_args
            extension.extra_link_args = link_flags + extension.extra_link_args
        super().build_extensions()

    def build_extension(self, extension):
        try:
            super().build_extension(extension)
        except Exception as error:  # a compiler error must not break the install
            _warn(f"fastem: could not build {extension.name} ({error}); the Cython "
                  "backend will be unavailable and fastem runs on Numba.")

    def run(self):
        try:
            super().run()
        except Exception as error:
            _warn(f"fastem: could not build the Cython kernels ({error}); the Cython "
                  "backend will be unavailable and fastem runs on Numba.")


class BuildPyWithKernelCache(build_py):
    """build_py, then Numba's kernels compiled into the built package's cache."""

    def run(self):
        super().run()
        if self.editable_mode or os.environ.get("FASTEM_PRECOMPILE", "1") == "0":
            return  # an editable install compiles into the source tree on first use
        if os.environ.get("FASTEM_NUMBA_CACHE", "1") == "0":
            return
        # Keep pip's PYTHONPATH: it is how its isolated build environment (numba) is found.
        paths = [os.path.abspath(self.build_lib), os.environ.get("PYTHONPATH", "")]
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(path for path in paths if path))
        env.pop("NUMBA_CACHE_DIR", None)  # the cache goes into the package, beside the kernels
        command = [sys.executable, "-m", "fastem.backends._compile"]
        try:
            subprocess.run(command, cwd=self.build_lib, env=env, check=True)
        except (OSError, subprocess.CalledProcessError) as error:
            _warn(f"fastem: could not compile the Numba kernels at build time ({error}); "
                  "they will be compiled on first use.")


# FASTEM_BUILD_DEBUG=1: every memoryview access bounds-checked and index-checked, for the
# CI run that would catch an out-of-bounds read (slow; never for use).
DEBUG = os.environ.get("FASTEM_BUILD_DEBUG", "0") not in ("", "0")


# Run a sanitized build with LD_PRELOAD=$(gcc -print-file-name=libasan.so) and
# ASAN_OPTIONS=detect_leaks=0 (Python itself is not instrumented).
SANITIZER_FLAGS = ["-fsanitize=address", "-fno-omit-frame-pointer", "-g"]


def compiler_directives():
    """The kernels' directives: no bounds checks, unless FASTEM_BUILD_DEBUG is set.

    A checked access that fails inside a ``noexcept nogil`` helper cannot
    raise; Cython reports it as an unraisable exception (which pytest turns
    into an error) and the access is not made.
    """
    checks = DEBUG
    return {"language_level": 3, "boundscheck": checks, "wraparound": checks,
            "initializedcheck": checks, "cdivision": True}


def cython_extensions():
    """The kernels as cythonized extensions, or none (with a warning) without Cython/NumPy."""
    try:
        import numpy
        from Cython.Build import cythonize
    except ImportError as error:
        _warn(f"fastem: Cython kernels not built ({error}).")
        return []
    extensions = [
        Extension(f"fastem._cython.{name}", [f"src/fastem/_cython/{name}.pyx"],
                  include_dirs=[numpy.get_include()],
                  define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION")])
        for name in CYTHON_MODULES
    ]
    try:
        # A debug build's C files go to their own folder, never mixed with the release ones.
        return cythonize(extensions, compiler_directives=compiler_directives(), quiet=True,
                         build_dir="build/cython-debug" if DEBUG else None)
    except Exception as error:
        _warn(f"fastem: could not cythonize the kernels ({error}).")
        return []


setup(ext_modules=cython_extensions(),
      cmdclass={"build_ext": OptionalBuildExt, "build_py": BuildPyWithKernelCache})
