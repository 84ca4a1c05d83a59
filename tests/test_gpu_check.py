"""The GPU check's dry run (``benchmarks/gpu_check.py --device cpu --tiny``): every path of the script runs on the
CPU at tiny sizes, so that it works before a GPU sees it. Its ratios mean nothing and only their shape is checked.
"""

from __future__ import annotations

import argparse
import importlib
import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
BENCHMARKS = ROOT / "benchmarks"
RESULTS = BENCHMARKS / "results"
FAMILIES = ("train", "inference", "fpn_inference")
SETTINGS = ("eager", "fused", "compile", "compile_fused")


def results_state() -> tuple:
    """What a dry run must leave alone: benchmarks/results/speed-gpu.json and the gpu-check folders there."""
    path = RESULTS / "speed-gpu.json"
    return path.stat().st_mtime_ns if path.exists() else None, sorted(RESULTS.glob("gpu-check-*"))


@pytest.fixture(scope="module")
def dry_run(tmp_path_factory) -> tuple[Path, dict]:
    out, before = tmp_path_factory.mktemp("gpu-check"), results_state()
    result = subprocess.run([sys.executable, str(BENCHMARKS / "gpu_check.py"), "--device", "cpu", "--tiny", "--out",
                             str(out)], capture_output=True, text=True, timeout=600, cwd=BENCHMARKS)
    assert result.returncode == 0, result.stderr[-3000:]
    assert results_state() == before, "the dry run wrote to benchmarks/results"
    return out, json.loads((out / "speed-gpu.json").read_text())


def test_every_ratio_is_written_with_its_range(dry_run):
    _, results = dry_run
    assert {"device", "torch", "cuda", "machine", "notebooks", "profile", "comparisons"} <= results.keys()
    assert results["tiny"] and results["compile_disabled"] and not results["cut"] and not results["prewarm_errors"]
    keys = sorted(key for key in results if key.endswith("_ratio"))
    assert keys == sorted(f"{family}_{setting}_ratio" for family in FAMILIES for setting in SETTINGS)
    for key in keys:
        entry = results[key]
        assert entry["min"] <= entry["median"] <= entry["max"] and entry["pairs"] == 1, key


def test_each_setting_times_what_it_names(dry_run):
    c = dry_run[1]["comparisons"]
    for family in FAMILIES:  # eager and fused share one baseline's timings, as compile and both do
        assert c[f"{family}_eager"]["baseline_seconds"] == c[f"{family}_fused"]["baseline_seconds"]
        assert c[f"{family}_compile"]["baseline_seconds"] == c[f"{family}_compile_fused"]["baseline_seconds"]
        for setting in SETTINGS:
            vt = c[f"{family}_{setting}"]["vt"]
            assert vt["compile"] == setting.startswith("compile") and vt["channels_last"]
            assert vt["variant"] == ("fused-attention" if setting.endswith("fused") else "")
            assert c[f"{family}_{setting}"]["baseline"]["variant"] == ""
    assert (c["train_eager"]["vt"]["model"], c["train_eager"]["vt"]["mode"]) == ("vt_resnet18", "training")
    assert (c["inference_eager"]["baseline"]["model"], c["inference_eager"]["vt"]["mode"]) == ("resnet18",
                                                                                               "inference")
    assert (c["fpn_inference_eager"]["baseline"]["model"], c["fpn_inference_eager"]["vt"]["model"]) == \
        ("fpn_resnet50", "vt_fpn_resnet50")


def test_every_notebook_is_reported_and_ran(dry_run):
    out, results = dry_run
    stems = sorted(path.name[:2] for path in (ROOT / "notebooks").glob("[0-9][0-9]_*.py"))
    assert sorted(results["notebooks"]) == stems, "a new notebook needs its FULL path in _full_paths.py"
    failed = {stem: report["error"] for stem, report in results["notebooks"].items() if not report["ok"]}
    assert not failed
    for stem in stems:
        assert json.loads((out / "notebooks" / f"{stem}.json").read_text()) == results["notebooks"][stem]
    assert len(results["notebooks"]["03"]["train_loss"]) == 1  # bounded: the first epoch only
    variants = ["baseline", "base", "-TF", "-PE", "-DT", "uncentred"]
    assert sorted(results["notebooks"]["05"]["train_loss"]) == sorted(variants)
    assert (out / "runs" / "03-quick" / "model.safetensors").exists()


def test_stage5_is_profiled(dry_run):
    out, results = dry_run
    profile = results["profile"]
    assert "error" not in profile and profile["setting"] in SETTINGS
    assert json.loads((out / profile["trace"]).read_text())["traceEvents"]
    table = (out / profile["table"]).read_text()
    assert "stage 5 forward and backward" in table and f"setting {profile['setting']}" in table


@pytest.mark.skipif(torch.cuda.is_available(), reason="the failure comes from asking for a CUDA device without one")
def test_a_failed_notebook_is_reported_and_the_next_still_runs(tmp_path, monkeypatch):
    """On a machine without CUDA, asking for it fails notebook 02 (and 03); 01 passes, and after 02 fails its
    process stops and a new one runs 03, which is reported on its own."""
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    full_paths = importlib.import_module("_full_paths")
    monkeypatch.setattr(full_paths, "NOTEBOOKS", ("01", "02", "03"))
    args = argparse.Namespace(device="cuda", tiny=True, out=tmp_path)
    reports = full_paths.run_notebooks(args, timeout=300)
    assert list(reports) == ["01", "02", "03"] and reports["01"]["ok"]
    assert not reports["02"]["ok"] and "Traceback" in reports["02"]["traceback"]
    assert not reports["03"]["ok"] and "cuda" in reports["03"]["error"].lower()


@pytest.mark.parametrize("options, message", [
    (["--device", "cpu"], "--device cpu runs only the dry run"),
    (["--device", "cpu", "--tiny", "--budget", "0"], "--budget > 0"),
])
def test_bad_options_are_refused(options, message):
    result = subprocess.run([sys.executable, str(BENCHMARKS / "gpu_check.py"), *options], capture_output=True,
                            text=True, timeout=120, cwd=BENCHMARKS)
    assert result.returncode == 2 and message in result.stderr
