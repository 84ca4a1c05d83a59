"""vtlab.studies: the settings, the runner (resumable, shared between processes), the file format (the shipped
studies load and save byte for byte), the Study that callers read and the summaries over the seeds."""

from __future__ import annotations

import dataclasses
import json
import math

import pytest

from vtlab.cost import paper
from vtlab.studies import (
    FORMAT,
    STUDIES,
    STUDY_DIR,
    BlockTokens,
    Run,
    Study,
    StudySettings,
    VariantCost,
    VariantSummary,
    binomial_stderr,
    direction,
    load_study,
    parse_study,
    read_study,
    run_study,
    save_study,
    summarize,
    variant_cost,
    variant_model,
)


def synthetic_results(final: dict[tuple[str, int], float], epochs: int = 2) -> dict:
    """A study file's JSON with the given final validation accuracies (fractions)."""
    settings = StudySettings(epochs=epochs, seeds=(0, 1), variants=("base", "-TF", "-PE", "-DT"))
    zero = {"macs": 1, "params": 1}
    return {"format": FORMAT, "settings": settings.to_dict(),
            "environment": {"torch": "x", "device": "cpu", "threads": 2},
            "validation": {"images": 500, "classes": 6},
            "variants": {v: {"model": settings.model, "options": dict(paper.ABLATIONS.get(v, {})), **zero}
                         for v in settings.variants},
            "runs": [{"variant": v, "seed": s, "device": "cpu", "seconds": 1.0, "epochs": epochs, "tokens": None,
                      "fusion": None, "train_loss": [1.0] * epochs, "val_loss": [1.0] * epochs,
                      "val_acc": [0.1] * (epochs - 1) + [final[v, s]]}
                     for s in settings.seeds for v in settings.variants]}


FINAL = {("base", 0): 0.50, ("base", 1): 0.60, ("-TF", 0): 0.40, ("-TF", 1): 0.62,
         ("-PE", 0): 0.50, ("-PE", 1): 0.60, ("-DT", 0): 0.55, ("-DT", 1): 0.50}


def test_summaries_pair_runs_by_seed():
    summaries = summarize(parse_study(synthetic_results(FINAL)))
    tf = summaries["-TF"]
    assert isinstance(tf, VariantSummary) and tf.seeds == (0, 1)
    assert tf.accuracy == pytest.approx((40.0, 62.0))
    assert tf.delta == pytest.approx((-10.0, 2.0))
    assert tf.mean_delta == pytest.approx(-4.0)
    assert tf.delta_range == pytest.approx((-10.0, 2.0))
    assert summaries["base"].spread == pytest.approx(10.0)
    assert summaries["base"].std == pytest.approx(7.0710678) and tf.delta_std == pytest.approx(8.4852814)
    assert summaries["base"].late_gain == pytest.approx((40.0, 50.0))  # the last epoch of two added it all
    assert direction(tf.delta) == "higher on 1 of 2 seeds: no consistent difference"
    assert direction((1.0, 0.5)) == "higher on all 2 seeds" and direction((-1.0,)) == "lower on all 1 seeds"
    assert binomial_stderr(50.0, 100) == pytest.approx(5.0)
    without_base = synthetic_results(FINAL)
    without_base["settings"]["variants"] = ["-TF"]
    without_base["variants"] = {"-TF": without_base["variants"]["-TF"]}
    without_base["runs"] = [run for run in without_base["runs"] if run["variant"] == "-TF"]
    with pytest.raises(ValueError, match="expected the variant 'base'"):
        summarize(parse_study(without_base))


def test_a_study_answers_what_its_callers_read():
    study = parse_study(synthetic_results(FINAL))
    assert study.summaries() == summarize(study)
    assert study.cost("-TF") == VariantCost("vt_resnet_mini", {"transformer": False}, 1, 1)
    assert study.label("-TF") == "vt_resnet_mini -TF" and study.label("base") == "vt_resnet_mini"
    assert [run.seed for run in study.runs_of("-PE")] == [0, 1]
    assert study.run("-DT", 1).final("val_acc") == 0.50
    assert study.curves("-TF") == {0: (0.1, 0.40), 1: (0.1, 0.62)}
    assert study.final("-TF") == pytest.approx((40.0, 62.0))
    assert study.paired_differences("-TF") == pytest.approx((-10.0, 2.0))
    assert study.paired_differences("base", against="-TF") == pytest.approx((10.0, -2.0))
    assert study.run("base", 0).rows() == [{"epoch": 1, "train_loss": 1.0, "val_loss": 1.0, "val_acc": 0.1},
                                           {"epoch": 2, "train_loss": 1.0, "val_loss": 1.0, "val_acc": 0.5}]
    assert study.minutes == pytest.approx(8 / 60) and study.devices == ["cpu"]
    assert study.validation.images == 500 and study.environment.threads == 2
    with pytest.raises(ValueError, match=r"expected one of the study's variants .*got 'baseline'"):
        study.cost("baseline")
    with pytest.raises(ValueError, match=r"expected a seed the study ran '-TF' with, \[0, 1\], got 7"):
        study.run("-TF", 7)
    with pytest.raises(ValueError, match=r"expected one of the run's curves .*got 'val_miou'"):
        study.run("-TF", 0).curve("val_miou")


def test_the_file_is_checked_and_written_as_it_was_read(tmp_path):
    good = synthetic_results({(v, s): 0.5 for v in ("base", "-TF", "-PE", "-DT") for s in (0, 1)})
    good["runs"][0]["tokens"] = [{"cosine": 0.5, "effective_tokens": 3.0, "peak": 0.2, "lift": 1.5,
                                  "on_objects": 0.7}]
    study = parse_study(good)
    assert study.run("base", 0).tokens == (BlockTokens(0.5, 3.0, 0.2, 1.5, 0.7),)
    assert read_study(save_study(study, tmp_path / "study.json")) == study
    assert json.loads((tmp_path / "study.json").read_text()) == {**good, "runs": [
        {key: run[key] for key in ("variant", "seed", "device", "seconds", "epochs", "train_loss", "val_loss",
                                   "val_acc", "tokens", "fusion")} for run in good["runs"]]}  # the file's key order
    missing_run = {**good, "runs": good["runs"][:-1]}
    short_curve = json.loads(json.dumps(good))
    short_curve["runs"][0]["val_acc"] = [0.5]
    wrong_options = json.loads(json.dumps(good))
    wrong_options["variants"]["-PE"]["options"] = {"dynamic": False}
    bad_tokens = json.loads(json.dumps(good))
    bad_tokens["runs"][0]["tokens"] = [{"cosine": 0.5}]
    bad_fusion = json.loads(json.dumps(good))
    bad_fusion["runs"][0]["fusion"] = [0.5, "wide"]
    for broken in (missing_run, short_curve, wrong_options, bad_tokens, bad_fusion, {**good, "format": 2},
                   {"runs": []}, {**good, "runs": [1, 2]}, {**good, "settings": []}):
        with pytest.raises(ValueError, match=r"not a study file \(format 3\)"):
            parse_study(broken)
    with pytest.raises(ValueError, match=r"not a study file .*at most one"):
        save_study(dataclasses.replace(study, runs=study.runs * 2), tmp_path / "twice.json", complete=False)
    (tmp_path / "garbled.json").write_text("{")
    with pytest.raises(ValueError, match=r"expected a study file \(JSON\) at .*garbled.json"):
        read_study(tmp_path / "garbled.json")


# The shipped studies still being made (scripts/make_studies.py resumes them): a study leaves this set, and this
# test then demands every run of it, when its last run lands.
IN_PROGRESS = {"shapes", "relations", "segmentation"}


@pytest.mark.parametrize("name", list(STUDIES))
def test_every_shipped_study_is_complete_counted_by_vtlab_and_saved_byte_for_byte(name, tmp_path):
    study = load_study(name, complete=name not in IN_PROGRESS)
    settings = study.settings
    assert settings == STUDIES[name]
    assert study.complete == (name not in IN_PROGRESS), f"update IN_PROGRESS: {name} complete={study.complete}"
    assert len(settings.seeds) >= 5 and study.seeds  # at least one seed that every variant has run
    # every variant and seed at most once, one value per epoch, and the budget and device of every run recorded
    assert all(len(r.curve("val_acc")) == r.epochs == settings.epochs and r.seconds > 0 and r.device
               for r in study.runs)
    for variant in settings.variants:  # its model costs are vtlab's counts
        assert study.cost(variant) == variant_cost(settings, variant, study.validation.classes)
    assert all(math.isfinite(s.mean_delta) for s in study.summaries().values())
    vt_fpn = [run.fusion for run in study.runs if run.variant != "baseline" and settings.task == "segment"]
    assert all(f is not None and len(f) == 4 for f in vt_fpn)
    shipped = STUDY_DIR / f"study-{name}.json"
    assert save_study(study, tmp_path / shipped.name, complete=study.complete).read_bytes() == shipped.read_bytes()


def test_power_the_paired_standard_error_interval_and_verdict():
    study = parse_study(synthetic_results(FINAL))
    tf = study.summaries()["-TF"]  # deltas -10 and +2
    assert tf.delta_se == pytest.approx(8.4852814 / math.sqrt(2))
    low, high = tf.delta_interval()
    assert (low, high) == pytest.approx((-4.0 - 12.706 * 6.0, -4.0 + 12.706 * 6.0))
    assert tf.verdict(-1) == f"unresolved (|Δ| < {-low:.1f} points)"  # the end farther from 0
    sure = VariantSummary("-TF", (0, 1, 2), (40.0, 41.0, 42.0), (-3.0, -2.0, -4.0))
    assert sure.delta_se == pytest.approx(1 / math.sqrt(3))
    assert sure.verdict(-1) == "agrees" and sure.verdict(1) == "disagrees"
    assert VariantSummary("-TF", (0,), (40.0,), (-3.0,)).verdict(-1) == "unresolved (one seed)"
    with pytest.raises(ValueError, match="sign -1 or 1"):
        sure.verdict(0)


def test_a_study_in_progress_pairs_only_the_seeds_every_variant_has_run():
    partial = synthetic_results(FINAL)
    partial["runs"] = [run for run in partial["runs"] if not (run["seed"] == 1 and run["variant"] == "-DT")]
    study = parse_study(partial, complete=False)
    assert study.seeds == (0,) and not study.complete and parse_study(synthetic_results(FINAL)).complete
    assert study.summaries()["-TF"].delta == pytest.approx((-10.0,))
    with pytest.raises(ValueError, match="one per variant and seed"):
        parse_study(partial)
    partial["runs"] = [run for run in partial["runs"] if run["variant"] != "-DT"]
    with pytest.raises(ValueError, match="at least one seed that every variant has run"):
        summarize(parse_study(partial, complete=False))


def test_controls_are_the_base_model_with_one_option_changed():
    segmentation, shapes = STUDIES["segmentation"], STUDIES["shapes"]
    assert variant_model(segmentation, "lateral") == ("vt_fpn_resnet_mini", {"fusion": "none"})
    assert variant_model(shapes, "uncentred") == ("vt_resnet_mini", {"centre_filter_tokens": False})
    assert "lateral" in segmentation.variants and "uncentred" in shapes.variants
    assert STUDIES["relations"].variants == ("baseline", "base", "-TF")
    with pytest.raises(ValueError, match="unknown variant 'gated'"):
        variant_model(segmentation, "gated")


def test_a_segmentation_study_counts_its_variants_on_segmentation_data(monkeypatch):
    """A study of data that only segmentation takes (LIP) counts its variants at that data's default size."""
    import vtlab.studies.runner as runner

    monkeypatch.setattr(runner, "count_macs", lambda model, size: size)  # the size it is counted at
    settings = StudySettings(model="vt_fpn_resnet_mini", baseline="fpn_resnet_mini", recipe="quick-segment",
                             data="lip:/nowhere", seeds=(0,), variants=("baseline", "base"))
    assert [variant_cost(settings, v, 20).macs for v in settings.variants] == [473, 473]
    assert variant_cost(dataclasses.replace(settings, image_size=96), "base", 20).macs == 96


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
    with pytest.raises(ValueError, match="unknown study settings"):
        StudySettings.from_dict({"epoch": 3})


def skeleton(value):
    """The shape of a JSON value: dict keys and value types, recursively (lists by their first item)."""
    if isinstance(value, dict):
        return {key: skeleton(v) for key, v in value.items()}
    if isinstance(value, list):
        return [skeleton(value[0])] if value else []
    return type(value).__name__


def test_a_trained_study_has_the_shipped_studies_format(tmp_path):
    cached = load_study("shapes", complete=False).to_dict()
    tiny = StudySettings(epochs=1, train_size=64, val_size=64, seeds=(0,), variants=("baseline", "base"),
                         threads=1, batch_size=32)
    fresh = run_study(tiny)
    assert isinstance(fresh, Study) and read_study(save_study(fresh, tmp_path / "study.json")) == fresh
    assert fresh.run("base", 0).tokens is not None and fresh.run("baseline", 0).tokens is None
    assert fresh.run("base", 0).fusion is None  # a classifier: no pyramid
    assert skeleton(fresh.to_dict()) == {**skeleton(cached), "variants": {v: skeleton(cached["variants"][v])
                                                                          for v in tiny.variants}}


def test_a_study_resumes_and_shares_its_file_between_processes(tmp_path, monkeypatch):
    """run_study with a file trains only the runs the file lacks, and a seed subset merges into the file."""
    import vtlab.studies.runner as runner

    trained = []

    def fake_run(settings, variant, seed):  # a run, without training
        trained.append((variant, seed))
        return Run(variant, seed, "cpu", 0.0, settings.epochs, {k: (0.5,) * settings.epochs for k in settings.curves})

    monkeypatch.setattr(runner, "run_one", fake_run)
    monkeypatch.setattr(runner, "variant_cost", lambda settings, variant, classes: VariantCost(
        *variant_model(settings, variant), 1, 1))
    settings = StudySettings(epochs=2, train_size=64, val_size=64, seeds=(0, 1), variants=("baseline", "base"),
                             threads=1)
    path = tmp_path / "study.json"
    partial = run_study(settings, path=path, seeds=(1,))  # one process's share
    assert trained == [("baseline", 1), ("base", 1)] and len(partial.runs) == 2
    with pytest.raises(ValueError, match="at most one|one per variant"):
        read_study(path)  # not complete yet
    assert len(read_study(path, complete=False).runs) == 2
    run_study(settings, path=path, seeds=(0,), variants=("base",))  # another process's share
    full = run_study(settings, path=path)  # the rest, keeping what is there
    assert trained[2:] == [("base", 0), ("baseline", 0)]
    assert read_study(path) == full and [(r.variant, r.seed) for r in full.runs] == [
        ("baseline", 0), ("base", 0), ("baseline", 1), ("base", 1)]
    assert run_study(settings, path=path) == full and len(trained) == 4  # nothing left to train
    with pytest.raises(ValueError, match="other settings"):
        run_study(dataclasses.replace(settings, epochs=3), path=path)
    with pytest.raises(ValueError, match="expected seeds among"):
        run_study(settings, path=path, seeds=(7,))
    with pytest.raises(ValueError, match="expected variants among"):
        run_study(settings, path=path, variants=("-TF",))
