"""The benchmark scripts run, print their ratio and per-part breakdown, and refuse contradictory options.

Tiny inputs and one repeat: this checks that the scripts work, not how fast anything is.
"""

from __future__ import annotations

import importlib
import re
import subprocess
import sys
from pathlib import Path

import pytest

import vtlab
from vtlab.cost import macs_by_module

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def run(script: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(BENCHMARKS / script), *args], capture_output=True, text=True,
                          timeout=300, cwd=BENCHMARKS)


def test_resnet18_benchmark_prints_ratios_and_breakdown():
    result = run("bench_resnet18.py", "--batch", "2", "--size", "32", "--repeats", "1", "--breakdown")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert re.search(r"inference .* ratio VT/ResNet \d+\.\d{3}", out)
    assert re.search(r"training step .* ratio VT/ResNet \d+\.\d{3}", out)
    for name in ("resnet18", "vt_resnet18"):
        line = next(line for line in out.splitlines() if line.strip().startswith(name + " "))
        assert "stages 1-4" in line and "stage 5 + head" in line and line.count("GMAC/s") == 2


def test_fpn_benchmark_prints_speedup_and_breakdown():
    result = run("bench_fpn.py", "--size", "64", "96", "--repeats", "1", "--breakdown")
    assert result.returncode == 0, result.stderr
    assert "batch 1, 64x96" in result.stdout
    assert re.search(r"speed-up FPN / VT-FPN \d+\.\d{3}", result.stdout)
    lines = [line for line in result.stdout.splitlines() if "backbone" in line and "neck" in line and "head" in line]
    assert len(lines) == 2


@pytest.mark.parametrize("script", ["bench_resnet18", "bench_fpn"])
def test_breakdown_parts_cover_every_counted_mac(script, monkeypatch):
    """The parts a breakdown reports add up to the whole model's MACs: no module's work is left out."""
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    bench = importlib.import_module(script)
    for name, parts in bench.PARTS.items():
        macs = macs_by_module(vtlab.create_model(name), 64)
        assert sum(macs[m] for modules in parts.values() for m in modules) == macs[""], name


@pytest.mark.parametrize("args, message", [
    (["--freeze"], "--freeze applies to compiled models"),
    (["--compile", "--breakdown"], "--breakdown times the parts of an eager forward pass"),
])
def test_contradictory_options_are_refused(args, message):
    result = run("bench_fpn.py", *args)
    assert result.returncode != 0 and message in result.stderr
