"""``vtlab reproduce``: part 1 reports the shipped studies' numbers, part 2 counts the cost tables, part 3 trains
the first epoch of a cached run pair live beside the cached values; the report labels each part."""

import re
import subprocess
import sys
import time

import pytest

from vtlab.reproduce import LIVE_STUDY, reproduce
from vtlab.studies import STUDIES, load_study


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    out = tmp_path_factory.mktemp("reproduce")
    started = time.perf_counter()
    path = reproduce(out, live_epochs=1, tables=["1", "3.2"], progress=False)  # Table 4 takes a while to count
    return path, time.perf_counter() - started


def test_part1_reports_every_shipped_study_with_its_spread(report):
    text = report[0].read_text()
    assert "## 1. The paper's claims at toy scale (cached)" in text
    for name in STUDIES:
        study = load_study(name, complete=False)
        section = text.split(f"### {name}: ")[1].split("### ")[0]
        for variant, summary in study.summaries().items():
            model = study.cost(variant).model
            label = model if variant in ("baseline", "base") else f"{model} {variant}"  # independent of Study.label
            row = next(line for line in section.splitlines() if line.startswith(f"| {label} | "))
            assert f"| {study.cost(variant).macs / 1e6:.2f} M |" in row
            assert f"| {summary.mean_accuracy:.1f} ± {summary.std:.1f} |" in row
    assert text.count("The paper (Table 1, ImageNet): VT-R-18 +4.53 points") == 3
    assert "The paper (Table 4, ResNet-50 backbone): VT-FPN +0.22 mIoU points on COCO-stuff" in text
    # shapes and digits: three ablations each, relations: -TF; each with its paired SE, interval and verdict
    number = r"(?:\d+\.\d\d|nan)"  # nan: a study with one seed paired so far
    paired = rf"[+-]\d+\.\d\d points \(paired SE {number}, 95 % interval \[[+-]{number}, [+-]{number}\]"
    ablation = r"- \*\*-(?:TF|PE|DT)\*\* − base: "
    verdicts = re.findall(ablation + paired + r".*?: \*\*(agrees|disagrees|unresolved)", text)
    assert len(verdicts) == 7, verdicts
    assert re.search(r"- \*\*lateral − vt_fpn_resnet_mini\*\* .*: " + paired, text)
    for name in STUDIES:
        study = load_study(name, complete=False)
        assert ("In progress" in text.split(f"### {name}: ")[1].split("### ")[0]) == (not study.complete)


def test_part2_counts_and_part3_retraces_the_cached_runs(report, capsys):
    path, seconds = report
    text = path.read_text()
    assert "## 2. Cost: the paper's tables beside vtlab's counts (counted)" in text and "Table 1" in text
    assert "## 3. The engine on this machine (live)" in text
    cached = {run.variant: run for run in load_study(LIVE_STUDY, complete=False).runs if run.seed == 0}
    for variant, model in (("baseline", "resnet_mini"), ("base", "vt_resnet_mini")):
        cells = next(line for line in text.splitlines() if line.startswith(f"| {model} | 1 |")).split("|")
        live_loss, cached_loss, live_acc, cached_acc = (float(cells[i]) for i in (3, 4, 5, 6))
        assert cached_loss == round(cached[variant].curve("train_loss")[0], 6)
        assert cached_acc == round(cached[variant].curve("val_acc")[0], 4)
        # the same run: equal on the machine that made the cache; with the instruction set capped at AVX2 the
        # first epoch's mean training loss moved by 0.0002, far less than this bound
        assert abs(live_loss - cached_loss) < 0.01 and 0 <= live_acc <= 1
        assert (path.parent / "live" / "seed0" / variant / "metrics.csv").exists()
    assert re.search(r"Live \(\d+ s on this machine\): (identical to the cached runs|within \d\.\d+ of the cached)",
                     text)
    figure = (path.parent / "figure.html").read_text()
    # self-contained, opens offline: plotly.js is inlined, no script is fetched from elsewhere
    assert len(figure) > 1_000_000 and not re.search(r"<script[^>]*\bsrc=", figure)
    assert "resnet_mini live" in figure and "shapes-same-colour" in figure
    # a second call reuses the live runs instead of training again
    started = time.perf_counter()
    again = reproduce(path.parent, live_epochs=1, tables=["3.2"]).read_text()
    assert time.perf_counter() - started < seconds
    shown = capsys.readouterr().out
    assert "1/3 the paper's claims at toy scale, cached" in shown and "3/3 live" in shown
    assert "epoch 1/1" not in shown  # progress lines are for epochs trained now, and none was
    assert again.count("| vt_resnet_mini | 1 |") == 1 and "| vt_resnet_mini | 2 |" not in again


def test_bad_arguments_are_clear_errors(tmp_path):
    with pytest.raises(ValueError, match=r"expected a seed of the shapes study, \[0, 1, 2, 3, 4, 5, 6, 7\], got 9"):
        reproduce(tmp_path, seed=9, progress=False)
    with pytest.raises(ValueError, match="expected live_epochs between 1 and 10, got 0"):
        reproduce(tmp_path, live_epochs=0, progress=False)
    result = subprocess.run([sys.executable, "-m", "vtlab", "reproduce", "--seed", "9", "--out", str(tmp_path)],
                            capture_output=True, text=True)
    assert result.returncode == 2 and result.stderr.count("\n") == 1 and "expected a seed" in result.stderr


def test_the_report_and_its_figures_need_no_notebook_extra():
    """`pip install -e . && vtlab reproduce` (README line 1) has no ipywidgets, IPython or pygments."""
    code = ("import sys; sys.modules.update(dict.fromkeys(['ipywidgets', 'IPython', 'pygments']));"
            "import vtlab.reproduce; from vtlab.studies import load_study;"
            "from vtlab.viz.training import accuracy_macs_figure, curves_figure;"
            "accuracy_macs_figure({'shapes': load_study('shapes', complete=False)}).to_html(); print('drawn')")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0 and result.stdout == "drawn\n", result.stderr
