"""The cost figures and widgets of notebooks 2 and 5 (vtlab.viz.costs, vtlab.viz.ablation), headless: the values in
the figures are vtlab's counts, and the widgets redraw when a control changes. The studies notebook 5 reads are
tested in tests/test_studies.py."""

from __future__ import annotations

from functools import cache

import pytest

from vtlab.cost import count_macs, count_params, paper
from vtlab.cost.report import STAGES, model_cost, paper_deltas, stage_costs
from vtlab.models import create_model
from vtlab.studies import VariantSummary, load_study
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
from vtlab.viz.training import accuracy_macs_figure, mean_curve_figure


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


def test_table3_figure_draws_the_paired_differences():
    summaries = {"-TF": VariantSummary("-TF", (0, 1), (40.0, 62.0), (-10.0, 2.0)),
                 "-PE": VariantSummary("-PE", (0, 1), (50.0, 60.0), (0.0, 0.0)),
                 "-DT": VariantSummary("-DT", (0, 1), (55.0, 50.0), (5.0, -10.0))}
    fig = table3_figure("vt_resnet34", summaries)
    ours = fig.data[5]
    assert ours.name == TRACES[2] and list(ours.x) == ["-TF", "-PE", "-DT"]
    assert ours.y == pytest.approx((-4.0, 0.0, -2.5))
    assert ours.error_y.array[0] == pytest.approx(6.0) and ours.error_y.arrayminus[0] == pytest.approx(6.0)
    # a variant with no accuracy anywhere gets no accuracy traces, so the legend lists nothing empty
    untrained = ablation_figure("vt_resnet34", [{"transformer": False, "dynamic": False}], summaries)
    assert len(untrained.data) == 4 and {t.name for t in untrained.data} == set(TRACES[:2])


def test_the_study_figures_read_a_study():
    study = load_study("relations", complete=False)
    summaries = study.summaries()
    fig = accuracy_macs_figure({"relations": study})
    variants = ("baseline", "base", "-TF")
    assert [t.text[0] for t in fig.data] == ["resnet_mini", "vt_resnet_mini", "vt_resnet_mini -TF"]
    assert [t.x[0] for t in fig.data] == [round(study.cost(v).macs / 1e6, 2) for v in variants]
    assert [t.y[0] for t in fig.data] == [round(summaries[v].mean_accuracy, 2) for v in variants]
    curves = mean_curve_figure(study, ["base"])
    assert curves.data[1].name == "vt_resnet_mini" and curves.data[1].y[-1] == round(summaries["base"].mean_accuracy, 3)
    for figure in (accuracy_macs_figure, mean_curve_figure):
        with pytest.raises(ValueError, match="expected a Study .*got dict"):
            figure({"relations": study.to_dict()} if figure is accuracy_macs_figure else study.to_dict())
    with pytest.raises(ValueError, match=r"the study's variants \['baseline', 'base', '-TF'\], got '-PE'"):
        mean_curve_figure(study, ["-PE"])
