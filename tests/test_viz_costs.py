"""The cost figures and widgets of notebooks 2 and 5 (vtlab.viz.costs, vtlab.viz.ablation), headless: the values in
the figures are vtlab's counts, the widgets redraw when a control changes; and the ablation results file that
notebook 5 reads has the format that vtlab.train.ablation writes."""

from __future__ import annotations

import json
import math
from functools import cache

import pytest

from vtlab.cost import count_macs, count_params, paper
from vtlab.cost.report import STAGES, model_cost, paper_deltas, stage_costs
from vtlab.models import create_model
from vtlab.train.ablation import (
    STUDIES,
    STUDY_DIR,
    AblationSettings,
    AblationSummary,
    check_ablations,
    direction,
    load_ablations,
    load_study,
    run_ablations,
    save_ablations,
    summarize_ablations,
    variant_cost,
)
from vtlab.viz.ablation import (
    TRACES,
    ablation_explorer,
    ablation_figure,
    ablation_label,
    ablation_options,
    table3_figure,
)
from vtlab.viz.costs import (
    paper_stage5,
    short_name,
    stage_explorer,
    stage_figure,
    table1_figure,
    table2_figure,
)


@cache
def _counted(name: str, options: tuple) -> tuple[int, int]:
    model = create_model(name, **dict(options))
    return count_macs(model), count_params(model)


def counted(name: str, **options: bool) -> tuple[int, int]:
    """MACs and parameters of a registered model, counted here independently of the figure builders (cached)."""
    return _counted(name, tuple(sorted(options.items())))


# --- notebook 2: stages, Tables 1 and 2 -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def stages():
    return {name: stage_costs(name) for name in ("resnet18", "vt_resnet18", "resnet34", "vt_resnet34")}


def test_stages_add_up_to_the_counted_totals(stages):
    for name, costs in stages.items():
        macs, params = counted(name)
        assert costs.macs["total"] == macs == sum(costs.macs[s] for s in STAGES), name
        assert costs.params["total"] == params == sum(costs.params[s] for s in STAGES), name
        assert sum(costs.stage5_macs.values()) == costs.macs["stage 5"], name
        assert sum(costs.stage5_params.values()) == costs.params["stage 5"], name
    # stages 1-4 are the ResNet's own in the VT-ResNet
    for stage in ("stage 1", "stage 2", "stage 3", "stage 4"):
        assert stages["resnet34"].macs[stage] == stages["vt_resnet34"].macs[stage]
    assert list(stages["vt_resnet18"].stage5_macs) == ["adapter", "block 0 tokenizer", "block 0 transformer",
                                                       "block 0 projector", "block 1 tokenizer",
                                                       "block 1 transformer"]


def test_paper_stage5_inferences(stages):
    resnet = stages["resnet18"]
    ways = paper_stage5("18", resnet)
    assert ways["via Table 2"] == pytest.approx(resnet.macs["stage 5"] / 2.4)
    shared = sum(resnet.macs[s] for s in ("stage 1", "stage 2", "stage 3", "stage 4"))
    assert ways["via Table 1"] == pytest.approx(1.587e9 - shared - 1024 * 1000)
    with pytest.raises(ValueError):
        paper_stage5("152", resnet)


def test_stage_figure_holds_the_counts(stages):
    fig = stage_figure(stages["resnet18"], stages["vt_resnet18"], "macs")
    assert [t.name for t in fig.data] == ["R-18 (vtlab)", "VT-R-18 (vtlab)", "VT-R-18 paper, via Table 2",
                                          "VT-R-18 paper, via Table 1"]
    assert list(fig.data[0].x) == list(STAGES)
    assert fig.data[1].y[4] == pytest.approx(stages["vt_resnet18"].macs["stage 5"] / 1e6, rel=1e-3)
    assert fig.data[2].y[0] == pytest.approx(stages["resnet18"].macs["stage 5"] / 2.4 / 1e6, rel=1e-3)
    params = stage_figure(stages["resnet18"], stages["vt_resnet18"], "params")
    assert params.data[0].y[4] == pytest.approx(stages["resnet18"].params["stage 5"] / 1e6, rel=1e-3)
    with pytest.raises(ValueError):
        stage_figure(stages["resnet18"], stages["vt_resnet18"], "seconds")


def test_stage_explorer_redraws(stages):
    explorer = stage_explorer(stages)
    assert explorer.controls["depth"].options == ("18", "34")
    assert explorer.figure.data[1].name == "VT-R-18 (vtlab)"
    explorer.controls["depth"].value = "34"
    assert explorer.figure.data[1].name == "VT-R-34 (vtlab)"
    assert explorer.figure.data[1].y[4] == pytest.approx(stages["vt_resnet34"].macs["stage 5"] / 1e6, rel=1e-3)
    explorer.controls["metric"].value = "params"
    assert explorer.figure.data[0].y[4] == pytest.approx(stages["resnet34"].params["stage 5"] / 1e6, rel=1e-3)
    assert explorer.figure.layout.yaxis.title.text == "parameters (M)"


def test_table1_and_table2_figures_hold_the_counts():
    names = ["resnet18", "vt_resnet18"]
    costs = {name: model_cost(name) for name in names}
    fig = table1_figure(costs)
    paper_macs, ours_macs, paper_params, ours_params = fig.data
    assert paper_macs.name == "paper (Table 1)" and ours_macs.name == "vtlab"
    assert list(ours_macs.x) == [short_name(n) for n in names] == ["R-18", "VT-R-18"]
    assert list(paper_macs.y) == [paper.table1(n).macs_g for n in names]
    assert list(ours_macs.y) == [round(counted(n)[0] / 1e9, 3) for n in names]
    assert list(ours_params.y) == [round(costs[n].params / 1e6, 2) for n in names]
    assert list(paper_params.y) == [11.67, 12.76]

    fig = table2_figure(costs)
    assert len(fig.data) == 8
    macs_stage5 = fig.data[3]
    assert macs_stage5.name == "vtlab"
    assert macs_stage5.y[0] == round(costs["resnet18"].stage5_macs / costs["vt_resnet18"].stage5_macs, 2)
    assert fig.data[2].y[0] == paper.TABLE2["resnet18"]["macs_stage5"]
    with pytest.raises(ValueError):
        table2_figure({"resnet18": costs["resnet18"]})


# --- notebook 5: ablations -------------------------------------------------------------------------------------


def test_ablation_options_and_labels():
    assert ablation_options() == {}
    assert ablation_options(TF=False) == {"transformer": False}
    assert ablation_label({}) == "base"
    assert ablation_label({"dynamic": False, "transformer": False}) == "-TF -DT"
    for label, options in paper.ABLATIONS.items():
        assert ablation_label(options) == label
    with pytest.raises(ValueError):
        ablation_label({"dynamic": True})
    assert paper_deltas("vt_resnet34", "-DT") == {"macs": 29.0, "params": -1.1, "top1": -1.25}
    assert paper_deltas("vt_resnet34", "-TF -DT") is None


def mac_delta(model: str, **options: bool) -> float:
    return round((counted(model, **options)[0] - counted(model)[0]) / 1e6, 3)


def test_ablation_explorer_follows_its_switches():
    explorer = ablation_explorer()  # no trained runs given: the accuracy panel has the paper's bar alone
    assert [t.name for t in explorer.figure.data] == [TRACES[0], TRACES[1]] * 2 + [TRACES[0]]
    assert explorer.figure.data[1].y == (0.0,)

    explorer.controls["TF"].value = False
    fig = explorer.figure
    assert fig.layout.title.text == "VT-R-34 -TF"
    assert list(fig.data[0].x) == ["-TF"]
    assert fig.data[0].y == (-13.0,)  # Table 3: 3.204 - 3.217 G
    assert fig.data[1].y[0] == mac_delta("vt_resnet34", transformer=False)
    params = counted("vt_resnet34", transformer=False)[1] - counted("vt_resnet34")[1]
    assert fig.data[3].y[0] == round(params / 1e6, 4)
    assert fig.data[4].y == (-0.32,)

    explorer.controls["DT"].value = False  # a combination: counted, but not in Table 3
    fig = explorer.figure
    assert fig.layout.title.text == "VT-R-34 -TF -DT (not in Table 3)"
    assert fig.data[0].y == (None,)
    assert fig.data[1].y[0] == mac_delta("vt_resnet34", transformer=False, dynamic=False)

    explorer.controls["TF"].value = True
    explorer.controls["model"].value = "vt_resnet18"
    assert explorer.figure.layout.title.text == "VT-R-18 -DT"
    assert explorer.figure.data[0].y == (21.0,)
    assert explorer.figure.data[1].y[0] == mac_delta("vt_resnet18", dynamic=False)


def synthetic_results(final: dict[tuple[str, int], float], epochs: int = 2) -> dict:
    """A results dict in the file format with the given final validation accuracies (fractions)."""
    settings = AblationSettings(epochs=epochs, seeds=(0, 1), variants=("base", "-TF", "-PE", "-DT"))
    zero = {"macs": 1, "params": 1}
    return {"format": 2, "settings": settings.to_dict(),
            "environment": {"torch": "x", "device": "cpu", "threads": 2},
            "validation": {"images": 500, "classes": 6},
            "variants": {v: {"model": settings.model, "options": dict(paper.ABLATIONS.get(v, {})), **zero}
                         for v in settings.variants},
            "runs": [{"variant": v, "seed": s, "device": "cpu", "seconds": 1.0, "epochs": epochs, "tokens": None,
                      "train_loss": [1.0] * epochs, "val_loss": [1.0] * epochs,
                      "val_acc": [0.1] * (epochs - 1) + [final[v, s]]}
                     for s in settings.seeds for v in settings.variants]}


def test_summaries_pair_runs_by_seed():
    final = {("base", 0): 0.50, ("base", 1): 0.60, ("-TF", 0): 0.40, ("-TF", 1): 0.62,
             ("-PE", 0): 0.50, ("-PE", 1): 0.60, ("-DT", 0): 0.55, ("-DT", 1): 0.50}
    summaries = summarize_ablations(check_ablations(synthetic_results(final)))
    tf = summaries["-TF"]
    assert tf.accuracy == pytest.approx((40.0, 62.0))
    assert tf.delta == pytest.approx((-10.0, 2.0))
    assert tf.mean_delta == pytest.approx(-4.0)
    assert tf.delta_range == pytest.approx((-10.0, 2.0))
    assert summaries["base"].spread == pytest.approx(10.0)
    assert summaries["base"].std == pytest.approx(7.0710678) and tf.delta_std == pytest.approx(8.4852814)
    assert summaries["base"].late_gain == pytest.approx((40.0, 50.0))  # the last epoch of two added it all
    assert direction(tf.delta) == "higher on 1 of 2 seeds: no consistent difference"
    assert direction((1.0, 0.5)) == "higher on all 2 seeds" and direction((-1.0,)) == "lower on all 1 seeds"

    fig = table3_figure("vt_resnet34", summaries)
    ours = fig.data[5]
    assert ours.name == TRACES[2] and list(ours.x) == ["-TF", "-PE", "-DT"]
    assert ours.y == pytest.approx((-4.0, 0.0, -2.5))
    assert ours.error_y.array[0] == pytest.approx(6.0) and ours.error_y.arrayminus[0] == pytest.approx(6.0)
    # a variant with no accuracy anywhere gets no accuracy traces, so the legend lists nothing empty
    untrained = ablation_figure("vt_resnet34", [{"transformer": False, "dynamic": False}], summaries)
    assert len(untrained.data) == 4 and {t.name for t in untrained.data} == set(TRACES[:2])


def test_check_ablations_rejects_broken_files():
    good = synthetic_results({(v, s): 0.5 for v in ("base", "-TF", "-PE", "-DT") for s in (0, 1)})
    check_ablations(good)
    missing_run = {**good, "runs": good["runs"][:-1]}
    short_curve = json.loads(json.dumps(good))
    short_curve["runs"][0]["val_acc"] = [0.5]
    wrong_options = json.loads(json.dumps(good))
    wrong_options["variants"]["-PE"]["options"] = {"dynamic": False}
    for broken in (missing_run, short_curve, wrong_options, {**good, "format": 1}, {"runs": []}):
        with pytest.raises(ValueError):
            check_ablations(broken)


def skeleton(value):
    """The shape of a JSON value: dict keys and value types, recursively (lists by their first item)."""
    if isinstance(value, dict):
        return {key: skeleton(v) for key, v in value.items()}
    if isinstance(value, list):
        return [skeleton(value[0])] if value else []
    return type(value).__name__


def test_the_cached_results_have_the_format_run_ablations_writes(tmp_path):
    cached = load_study("shapes")  # complete, checked, and made with the settings STUDIES holds now
    settings = AblationSettings.from_dict(cached["settings"])
    assert settings == STUDIES["shapes"] and len(settings.seeds) >= 5
    tiny = AblationSettings(epochs=1, train_size=64, val_size=64, seeds=(0,), variants=("baseline", "base"),
                            threads=1, batch_size=32)
    fresh = run_ablations(tiny)
    written = load_ablations(save_ablations(fresh, tmp_path / "ablations.json"))
    assert written == fresh
    assert skeleton(written) == {**skeleton(cached), "variants": {v: skeleton(cached["variants"][v])
                                                                  for v in tiny.variants}}


@pytest.mark.parametrize("name", list(STUDIES))
def test_every_shipped_study_is_complete_and_counted_by_vtlab(name):
    cached = load_study(name)
    settings = AblationSettings.from_dict(cached["settings"])
    assert len(settings.seeds) >= (3 if settings.task == "segment" else 5)
    # every variant and seed once, one value per epoch, and the budget and device of every run recorded
    assert sorted((r["variant"], r["seed"]) for r in cached["runs"]) == sorted(
        (v, s) for v in settings.variants for s in settings.seeds)
    assert all(len(r["val_acc"]) == r["epochs"] == settings.epochs and r["seconds"] > 0 and r["device"]
               for r in cached["runs"])
    for variant in settings.variants:  # its model costs are vtlab's counts
        assert cached["variants"][variant] == variant_cost(settings, variant, cached["validation"]["classes"])
    summaries = summarize_ablations(cached)
    assert all(isinstance(s, AblationSummary) and math.isfinite(s.mean_delta) for s in summaries.values())


def test_a_stale_study_is_refused_naming_what_changed(tmp_path):
    stale = json.loads((STUDY_DIR / "study-digits.json").read_text())
    stale["settings"]["epochs"] += 1
    for run in stale["runs"]:
        for key in ("train_loss", "val_loss", "val_acc"):
            run[key].append(run[key][-1])
    (tmp_path / "study-digits.json").write_text(json.dumps(stale))
    with pytest.raises(ValueError, match=r"other settings.*epochs: 41 \(now 40\).*--only digits"):
        load_study("digits", tmp_path)
    with pytest.raises(FileNotFoundError, match="make_studies.py --only shapes"):
        load_study("shapes", tmp_path)
    with pytest.raises(ValueError, match="unknown study"):
        load_study("imagenet")


def test_a_study_resumes_and_shares_its_file_between_processes(tmp_path, monkeypatch):
    """run_ablations with a file trains only the runs the file lacks, and a seed subset merges into the file."""
    import vtlab.train.ablation as ablation

    trained = []

    def fake_run(settings, variant, seed):  # a run's entry, without training
        trained.append((variant, seed))
        return {"variant": variant, "seed": seed, "device": "cpu", "seconds": 0.0, "epochs": settings.epochs,
                "tokens": None, **{k: [0.5] * settings.epochs for k in settings.curves}}

    monkeypatch.setattr(ablation, "run_one", fake_run)
    monkeypatch.setattr(ablation, "variant_cost", lambda settings, variant, classes: {
        "model": ablation.variant_model(settings, variant)[0], "options": ablation.variant_model(settings, variant)[1],
        "macs": 1, "params": 1})
    settings = AblationSettings(epochs=2, train_size=64, val_size=64, seeds=(0, 1), variants=("baseline", "base"),
                                threads=1)
    path = tmp_path / "study.json"
    partial = run_ablations(settings, path=path, seeds=(1,))  # one process's share
    assert trained == [("baseline", 1), ("base", 1)] and len(partial["runs"]) == 2
    with pytest.raises(ValueError, match="at most one|one per variant"):
        load_ablations(path)  # not complete yet
    assert len(load_ablations(path, complete=False)["runs"]) == 2
    run_ablations(settings, path=path, seeds=(0,), variants=("base",))  # another process's share
    full = run_ablations(settings, path=path)  # the rest, keeping what is there
    assert trained[2:] == [("base", 0), ("baseline", 0)]
    assert load_ablations(path) == full and [(r["variant"], r["seed"]) for r in full["runs"]] == [
        ("baseline", 0), ("base", 0), ("baseline", 1), ("base", 1)]
    assert run_ablations(settings, path=path) == full and len(trained) == 4  # nothing left to train
    with pytest.raises(ValueError, match="other settings"):
        run_ablations(AblationSettings.from_dict({**settings.to_dict(), "epochs": 3}), path=path)
    with pytest.raises(ValueError, match="expected seeds among"):
        run_ablations(settings, path=path, seeds=(7,))
    with pytest.raises(ValueError, match="expected variants among"):
        run_ablations(settings, path=path, variants=("-TF",))
