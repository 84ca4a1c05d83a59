"""The benchmark scripts and their protocol: fresh processes, ratios with their spread, per-part breakdowns that
cover every MAC, resumable speed curves, and the figures docs/scale.md draws from the committed results.

Tiny inputs and one repeat: this checks that the scripts work and compute what they say, not how fast anything is.
"""

from __future__ import annotations

import importlib
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

import vtlab
from vtlab.cost import macs_by_module
from vtlab.viz.speed import load_speed_results, speed_curves_figure, speed_table, time_per_mac_figure

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
CPU_RESULTS = BENCHMARKS / "results" / "speed-cpu.json"


@pytest.fixture
def bench(monkeypatch):
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    return importlib.import_module


def run(script: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(BENCHMARKS / script), *args], capture_output=True, text=True,
                          timeout=600, cwd=BENCHMARKS)


RATIO = r"VT speed / baseline \d+\.\d{3} \(median of (\d+) pairs, range \d+\.\d{3}-\d+\.\d{3}\)"


def test_resnet18_benchmark_times_fresh_processes_and_breaks_down_the_parts():
    result = run("bench_resnet18.py", "--batch", "2", "--size", "64", "--repeats", "1", "--processes", "1",
                 "--breakdown", "--fused-attention")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "torch's CPU kernels" in out and "allocator" in out  # the machine is named
    for mode in ("inference", "training"):
        assert re.search(mode + r" +batch +2 64x64 .*" + RATIO, out), out
    assert re.findall(RATIO, out) == ["1", "1"] and "fused attention" in out
    assert len(re.findall(r"pair 1/1", result.stderr)) == 2  # one pair of fresh processes in each mode
    parts = {"resnet18": ["stages 1-4", "stage 5", "head", "other", "total"],
             "vt_resnet18": ["stages 1-4", "tokenizers", "transformers", "projectors", "other"]}
    for name, names in parts.items():
        line = next(line for line in out.splitlines() if line.strip().startswith(name + " "))
        assert all(f"{part} " in line for part in names), line


def test_fpn_benchmark_in_one_process():
    result = run("bench_fpn.py", "--size", "64", "96", "--repeats", "1", "--in-process")
    assert result.returncode == 0, result.stderr
    assert re.search(r"speed-up FPN / VT-FPN \d+\.\d{3}", result.stdout) and "fresh processes" not in result.stdout


@pytest.mark.parametrize("script", ["bench_resnet18", "bench_fpn"])
def test_breakdown_parts_cover_every_counted_mac_once(script, bench):
    """The named parts of a breakdown hold every MAC vtlab counts ("other" has none), and no module twice."""
    speed = bench("_speed")
    for name, parts in bench(script).PARTS.items():
        model = vtlab.create_model(name)
        macs = macs_by_module(model, 64)
        modules = [m for patterns in parts.values() for m in speed.part_modules(model, patterns)]
        assert not any(a.startswith(b + ".") for a in modules for b in modules), f"{name}: nested parts"
        assert len(set(modules)) == len(modules)
        assert sum(macs[m] for m in modules) == macs[""], name


def test_a_part_pattern_that_matches_nothing_is_an_error(bench):
    with pytest.raises(ValueError, match="no module of"):
        bench("_speed").part_modules(vtlab.create_model("resnet18"), ["vt.blocks.*"])


def test_the_ratio_is_taken_per_pair_and_a_busy_machine_is_flagged(bench):
    protocol = bench("_protocol")
    comparison = protocol.Comparison(protocol.Spec("resnet18"), protocol.Spec("vt_resnet18"),
                                     baseline_seconds=[1.0, 2.0, 1.2], vt_seconds=[0.5, 2.0, 1.0],
                                     others_shares=[0.0, 0.01, 0.0])
    assert comparison.ratios == [2.0, 1.0, 1.2] and comparison.speed_ratio == 1.2 and not comparison.busy
    comparison.others_shares.append(0.3)
    assert comparison.busy and "WARNING: the machine was busy" in comparison.line()
    summary = comparison.summary()
    assert (summary["ratio_min"], summary["ratio_max"]) == (1.0, 2.0)


def test_the_reassociated_projector_is_the_same_function_with_fewer_macs(bench):
    """benchmarks/reassociation.py's (X̄Q)(TK)ᵀ = X̄(Q(TK)ᵀ): the same outputs in float64, 37 M fewer MACs per image."""
    import torch

    torch.manual_seed(0)
    model = vtlab.create_model("vt_resnet18").eval()
    images = torch.randn(2, 3, 224, 224)
    before = macs_by_module(model)["vt.blocks.0.projector"]
    with torch.no_grad():
        plain = model.double()(images.double())
        bench("reassociation").reassociate_projectors(model)
        rewritten = model(images.double())
    torch.testing.assert_close(rewritten, plain, atol=1e-10, rtol=0)
    after = macs_by_module(model.float())["vt.blocks.0.projector"]
    assert (round(before / 1e6, 1), round(after / 1e6, 1)) == (57.2, 19.9)
    with pytest.raises(ValueError, match="has no projector"):
        bench("reassociation").reassociate_projectors(vtlab.create_model("resnet18"))


@pytest.mark.parametrize("fields, message", [
    (dict(mode="backward"), "mode: expected one of"),
    (dict(variant="faster"), "variant: expected one of"),
    (dict(batch=0), "must be positive"),
    (dict(freeze=True), "freeze applies to compiled models"),
])
def test_bad_specs_are_refused(bench, fields, message):
    with pytest.raises(ValueError, match=message):
        bench("_protocol").Spec("resnet18", **fields)


@pytest.mark.parametrize("args, message", [
    (["--freeze"], "--freeze applies to compiled models"),
    (["--compile", "--breakdown"], "--breakdown times the parts of an eager forward pass"),
    (["--processes", "0"], "--processes and --repeats must be at least 1"),
    (["--training", "--in-process"], "--training is timed in fresh processes"),
])
def test_contradictory_options_are_refused(args, message, bench, monkeypatch):
    monkeypatch.setattr(sys, "argv", ["bench_fpn.py", *args])
    with pytest.raises(SystemExit, match=re.escape(message)):
        bench("bench_fpn").main()


def test_speed_curves_write_after_every_point_and_resume(tmp_path):
    out = tmp_path / "speed.json"
    result = run("speed_curves.py", "--quick", "--processes", "1", "--repeats", "1", "--out", str(out))
    assert result.returncode == 0, result.stderr
    results = load_speed_results(out)
    assert len(results["points"]) == 2  # VT-R-18 against ResNet-18, inference and training
    assert {p["mode"] for p in results["points"]} == {"inference", "training"}
    for point in results["points"]:
        assert point["ratio_min"] <= point["ratio_median"] <= point["ratio_max"]
        assert point["mac_ratio"] > 0 and len(point["baseline_seconds"]) == len(point["vt_seconds"]) == 1
    assert [b["pair"] for b in results["breakdowns"]] == ["resnet18"]
    assert results["machine"]["threads"] == 2 and results["machine"]["processes"] == 1

    for point in results["points"]:  # the last as if measured while the machine was busy: a rerun measures it again
        point["busy"] = point is results["points"][-1]
    out.write_text(json.dumps(results))
    again = run("speed_curves.py", "--quick", "--processes", "1", "--repeats", "1", "--out", str(out))
    assert again.returncode == 0, again.stderr
    assert again.stdout.count("measured before, kept") == 1 and again.stdout.count(" ...") == 1
    assert len(load_speed_results(out)["points"]) == 2

    other = run("speed_curves.py", "--quick", "--processes", "1", "--repeats", "2", "--out", str(out))
    assert other.returncode != 0 and "measured on another machine or with other settings" in other.stderr


def test_rewrites_are_timed_against_the_plain_model(tmp_path):
    out = tmp_path / "rewrites.json"
    result = run("rewrites.py", "--quick", "--processes", "1", "--repeats", "1", "--rewrites", "reassociated-projector",
                 "--out", str(out))  # the fused-attention variant is timed in the bench_resnet18 test above
    assert result.returncode == 0, result.stderr
    assert len(re.findall(r"rewritten / plain speed \d+\.\d{3}", result.stdout)) == 1
    comparisons = json.loads(out.read_text())["comparisons"]
    assert [(c["rewrite"], c["vt"]["variant"], c["baseline"]["variant"]) for c in comparisons] == [
        ("reassociated-projector", "reassociated-projector", "")]


def test_the_committed_cpu_curves_cover_the_grid_measured_on_a_quiet_machine(bench):
    """docs/scale.md draws from benchmarks/results/speed-cpu.json: it must hold every point of the script's grid,
    with at least 5 process pairs each, none flagged busy, and the breakdowns."""
    results = load_speed_results(CPU_RESULTS)
    curves = bench("speed_curves")
    args = type("Args", (), {"threads": results["machine"]["threads"], "device": "cpu",
                             "repeats": results["machine"]["repeats"]})
    wanted = {curves.key(*curves.specs(point, mode, args)) for point in curves.grid(False)
              for mode in ("inference", "training")}
    assert {curves.key(p["baseline"], p["vt"]) for p in results["points"]} == wanted
    assert all(len(p["vt_seconds"]) >= 5 and not p["busy"] for p in results["points"])
    assert [b["pair"] for b in results["breakdowns"]] == ["resnet18", "fpn"]


def test_speed_figures_draw_the_committed_results():
    results = load_speed_results(CPU_RESULTS)
    curves = speed_curves_figure(results)
    assert [a.text for a in curves.layout.annotations][:3] == [
        "VT-R-18 / ResNet-18<br>224×224", "VT-R-18 / ResNet-18<br>batch 8", "VT-FPN-R50 / FPN-R50<br>batch 1"]
    medians = sorted(y for trace in curves.data if trace.name in ("inference", "training") for y in trace.y)
    assert len(medians) == len(results["points"]) + 2  # the 224x224 batch-8 points are in both VT-R-18 panels
    for trace in (t for t in curves.data if t.error_y.array is not None):
        assert min(trace.error_y.array) >= 0 and min(trace.error_y.arrayminus) >= 0
    parts = time_per_mac_figure(results)
    vt_parts = next(t for t in parts.data if t.name == "VT")  # the first breakdown: VT-R-18
    assert list(vt_parts.y) == ["stages 1-4", "adapter", "tokenizers", "transformers", "projectors", "total"]
    assert all(x > 0 for x in vt_parts.x) and "head" in vt_parts.customdata[-1][1]  # the head: under 0.1 % of MACs
    table = speed_table(results)
    assert table.count("\n") == len(results["points"]) + 1


def test_a_file_that_is_not_a_results_file_is_refused(tmp_path):
    path = tmp_path / "other.json"
    path.write_text(json.dumps({"points": []}))
    with pytest.raises(ValueError, match=r"missing \['breakdowns', 'machine'\]"):
        load_speed_results(path)
