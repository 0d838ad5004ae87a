"""The command line, run for real in a subprocess."""

import re
import subprocess
import sys


def _run(*args):
    return subprocess.run([sys.executable, "-m", *args], capture_output=True, text=True,
                          timeout=600)


def test_demo_prints_model_iterations_and_timing():
    result = _run("fastem", "demo", "--n-samples", "20000")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert re.search(r"(converged|stopped at max_iter) after \d+ iterations: .* ms per iteration",
                     out)
    lines = [line.split() for line in out.splitlines()]
    iterations = [float(parts[1]) for parts in lines
                  if len(parts) >= 2 and parts[0].isdigit() and parts[1].startswith("-")]
    assert len(iterations) >= 2
    assert iterations == sorted(iterations)  # EM never lowers the log-likelihood
    assert len(re.findall(r"^\s+\d+\s+0\.\d{4}\s+\[", out, flags=re.MULTILINE)) == 6
    assert "BIC:" in out


def test_bench_compares_with_sklearn():
    result = _run("fastem.bench", "--quick", "--case", "lowdim", "--scale", "0.005")
    assert result.returncode == 0, result.stderr
    row = next(line for line in result.stdout.splitlines() if line.startswith("lowdim"))
    speedup = float(re.search(r"([\d.]+)x", row).group(1))
    assert speedup > 0
