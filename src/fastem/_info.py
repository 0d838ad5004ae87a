"""``fastem info``: what this installation runs on and why."""

from __future__ import annotations

import os
import platform
import sys
from importlib.metadata import PackageNotFoundError, version

SIMD_FEATURES = ("sse4.2", "avx", "avx2", "fma", "avx512f", "avx512dq", "avx512vl", "neon")


def _version(package: str) -> str:
    try:
        return version(package)
    except PackageNotFoundError:
        return "not installed"


def cpu_description() -> str:
    """The CPU's name and the SIMD features that matter to the kernels."""
    try:
        from llvmlite import binding

        name = binding.get_host_cpu_name()
        features = binding.get_host_cpu_features()
        flags = [f for f in SIMD_FEATURES if features.get(f, False)]
        return f"{name} ({', '.join(flags) or 'no SIMD extensions found'})"
    except ImportError:
        flags = set()
        if os.path.exists("/proc/cpuinfo"):
            with open("/proc/cpuinfo") as cpuinfo:
                for line in cpuinfo:
                    if line.startswith(("flags", "Features")):
                        flags = set(line.split(":", 1)[1].split())
                        break
        found = [f for f in SIMD_FEATURES if f.replace(".", "_") in flags or f in flags]
        return f"{platform.processor() or platform.machine()} ({', '.join(found) or 'unknown'})"


def numba_cache_location() -> str:
    try:
        import numba
    except ImportError:
        return "(numba not installed)"
    if numba.config.CACHE_DIR:
        return f"{numba.config.CACHE_DIR} (NUMBA_CACHE_DIR)"
    from . import _kernels

    return os.path.join(os.path.dirname(_kernels.__file__), "__pycache__")


def thread_lines() -> list[str]:
    from threadpoolctl import threadpool_info

    from ._threads import available_cores
    from .backends import available_backends, get_backend

    lines = [f"cores available to this process: {available_cores()}"]
    for name, reason in available_backends().items():
        if reason is None and name != "numpy":
            backend = get_backend(name)
            lines.append(f"{name} kernels: {_threads(backend.threads.get_num_threads())}")
    for pool in threadpool_info():  # one line per library file: numpy and scipy each load one
        package = os.path.basename(os.path.dirname(pool["filepath"]))
        lines.append(
            f"{pool['user_api']} ({pool['prefix']}, {pool['internal_api']}, from {package}): "
            f"{_threads(pool['num_threads'])}"
        )
    return lines


def _threads(count: int) -> str:
    return f"{count} thread{'' if count == 1 else 's'}"


def describe() -> str:
    """Everything ``fastem info`` prints."""
    from . import __version__
    from .backends import available_backends, get_backend

    lines = [
        f"fastem {__version__}",
        f"python {platform.python_version()} ({sys.executable})",
        "packages: "
        + ", ".join(
            f"{p} {_version(p)}"
            for p in (
                "numpy",
                "numba",
                "scipy",
                "scikit-learn",
                "threadpoolctl",
                "dask",
                "matplotlib",
                "pyarrow",
            )
        ),
        f"cpu: {cpu_description()}",
        "backends:",
    ]
    for name, reason in available_backends().items():
        lines.append(f"  {name:<7} {'available' if reason is None else reason}")
    try:
        chosen = get_backend("auto").name
    except ValueError as error:
        chosen = f"none ({error})"
    lines.append(
        f"  'auto' uses: {chosen}"
        + (
            f" (FASTEM_BACKEND={os.environ['FASTEM_BACKEND']})"
            if os.environ.get("FASTEM_BACKEND")
            else ""
        )
    )
    lines.append("threads:")
    lines += [f"  {line}" for line in thread_lines()]
    lines.append(f"numba cache: {numba_cache_location()}")
    return "\n".join(lines)
