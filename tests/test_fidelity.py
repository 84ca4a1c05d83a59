"""The claims of docs/paper-fidelity.md, computed: the doc quotes these figures, the tests recompute them."""

from pathlib import Path

import pytest

import vtlab
from vtlab.cost import paper
from vtlab.cost.report import cost_report, relative_error

DOC = Path(__file__).resolve().parents[1] / "docs" / "paper-fidelity.md"


def params(name, **options):
    return vtlab.count_params(vtlab.create_model(name, **options)) / 1e6


def test_doc_embeds_the_current_cost_report():
    report = "\n\n".join(c.format() for c in cost_report())
    assert report in DOC.read_text(), "paste the output of `vtlab cost` into docs/paper-fidelity.md"


def test_vt_r18_with_listing4_query_groups_misses_the_mac_target():
    macs = vtlab.count_macs(vtlab.create_model("vt_resnet18", query_groups=16)) / 1e9
    assert relative_error(macs, paper.table1("vt_resnet18").macs_g) < -5


def test_vt_r18_with_grouped_transformer_misses_the_param_target():
    assert relative_error(params("vt_resnet18", kqv_groups=8), 12.76) < -15


def test_two_kv_groups_fit_table1_params_better_than_none():
    def mean_error(kv_groups):
        errors = [abs(relative_error(params(name, kv_groups=kv_groups), paper.table1(name).params_m))
                  for name in ("vt_resnet18", "vt_resnet34", "vt_resnet50", "vt_resnet101")]
        return sum(errors) / len(errors)
    assert mean_error(2) < mean_error(1)


@pytest.mark.parametrize("name, paper_delta", [("vt_resnet18", -0.07), ("vt_resnet34", -0.12)])
def test_cp_36_fits_the_pe_ablation_best(name, paper_delta):
    no_pe = params(name, position_encoding=False)
    misses = {size: abs(params(name, position_size=size) - no_pe - (-paper_delta))
              for size in (8, 12, 14)}  # Cp = 16, 36, 49
    assert min(misses, key=misses.get) == 12


def test_tf_mac_deltas_are_half_the_papers():
    for name, paper_delta in (("vt_resnet18", -68e6), ("vt_resnet34", -13e6)):
        without = vtlab.count_macs(vtlab.create_model(name, transformer=False))
        ours = without - vtlab.count_macs(vtlab.create_model(name))
        assert paper_delta / ours == pytest.approx(2.0, abs=0.05)
