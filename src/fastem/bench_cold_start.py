"""The first fit of a fresh process (``python -m fastem.bench --cold-start``).

For each covariance type and row dtype, a new Python process imports fastem
and fits 3 components to scikit-learn's iris data (150 × 4) with default
settings, twice over:

- **as installed**: with the Numba cache this installation holds (filled when
  it was built, or by earlier runs of an editable install);
- **empty cache**: with ``NUMBA_CACHE_DIR`` pointing at a new, empty folder,
  so every kernel the fit needs is compiled: what a first fit would cost
  without the cache, and the compile seconds fastem announces per kernel.

Columns: the process's whole wall time (interpreter start, imports, fit), the
``fit()`` call alone, and (empty cache) the seconds spent compiling. Medians of
``--repeats`` runs for the installed cache; one run for the empty one (it takes
about a minute per case on 2 cores).
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

CASES = (
    ("full", "float64"),
    ("full", "float32"),
    ("tied", "float64"),
    ("diag", "float64"),
    ("diag", "float32"),
    ("spherical", "float64"),
)

_CHILD = r"""
import json, logging, sys, time
started = time.perf_counter()
import numpy as np
from sklearn.datasets import load_iris
import fastem

compiled = []
class Compiles(logging.Handler):
    def emit(self, record):
        report = getattr(record, "fastem", {})
        if report.get("event") == "compile_end":
            compiled.append(report["seconds"])
logging.getLogger("fastem").addHandler(Compiles())
logging.getLogger("fastem").setLevel(logging.INFO)
X = load_iris().data.astype(sys.argv[2])
fit_started = time.perf_counter()
fastem.GaussianMixture(3, covariance_type=sys.argv[1], random_state=0).fit(X)
done = time.perf_counter()
print(json.dumps({"fit": done - fit_started, "in_process": done - started,
                  "compiling": sum(compiled), "families": len(compiled)}))
"""


def _first_fit(covariance_type: str, dtype: str, cache_dir: str | None) -> dict:
    env = dict(os.environ)
    if cache_dir is not None:
        env["NUMBA_CACHE_DIR"] = cache_dir
    started = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-c", _CHILD, covariance_type, dtype],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    wall = time.perf_counter() - started
    return dict(json.loads(result.stdout.strip().splitlines()[-1]), wall=wall)


def cold_start_rows(cases=CASES, repeats: int = 3, empty_cache: bool = True) -> list[dict]:
    """One row per (covariance type, dtype): first-fit seconds as installed and from empty."""
    rows = []
    for covariance_type, dtype in cases:
        _first_fit(covariance_type, dtype, None)  # an editable install fills its cache here
        installed = [_first_fit(covariance_type, dtype, None) for _ in range(repeats)]
        row = {
            "case": f"{covariance_type} {dtype}",
            "installed_wall": statistics.median(r["wall"] for r in installed),
            "installed_fit": statistics.median(r["fit"] for r in installed),
            "installed_compiled": max(r["families"] for r in installed),
        }
        if empty_cache:
            with tempfile.TemporaryDirectory() as cache_dir:
                empty = _first_fit(covariance_type, dtype, cache_dir)
            row.update(
                empty_wall=empty["wall"],
                empty_fit=empty["fit"],
                empty_compiling=empty["compiling"],
                empty_families=empty["families"],
            )
        rows.append(row)
    return rows


def report(repeats: int = 3, empty_cache: bool = True) -> str:
    """The table of :func:`cold_start_rows`."""
    rows = cold_start_rows(repeats=repeats, empty_cache=empty_cache)
    lines = [
        "First fit of a fresh process (iris 150 × 4, K=3, default settings), seconds:",
        f"{'case':18s} {'installed: process':>19s} {'fit()':>7s} {'compiled':>9s}"
        + (
            f" {'empty cache: process':>21s} {'fit()':>7s} {'compiling':>10s} {'families':>9s}"
            if empty_cache
            else ""
        ),
    ]
    for row in rows:
        line = (
            f"{row['case']:18s} {row['installed_wall']:19.2f} {row['installed_fit']:7.2f} "
            f"{row['installed_compiled']:9d}"
        )
        if empty_cache:
            line += (
                f" {row['empty_wall']:21.2f} {row['empty_fit']:7.2f} "
                f"{row['empty_compiling']:10.1f} {row['empty_families']:9d}"
            )
        lines.append(line)
    lines.append(
        "installed: the Numba cache shipped with this install (compiled: kernel families it "
        "lacked); empty cache: NUMBA_CACHE_DIR set to a new folder, every kernel family the "
        "fit needs compiled (in a separate process)."
    )
    return "\n".join(lines)
