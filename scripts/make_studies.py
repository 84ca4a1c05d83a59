"""Regenerate the seeded studies the notebooks read (``notebooks/data/study-*.json``), resumably.

    python scripts/make_studies.py                      # every study; each file is rewritten after every run
    python scripts/make_studies.py --only shapes digits # some of them

Each study trains the compact VT model, its Table 3 ablations (-TF, -PE, -DT) and its convolutional baseline
once per seed with vtlab's engine (see :mod:`vtlab.train.ablation`), on the CPU with one thread per process
(run two studies at once on two cores) unless ``--device cuda``. Interrupt it at any time: run the same command
again and it trains only the runs that are missing. Every run records its device, its wall time and its epochs.

| study        | what                                                                   | runs |
|--------------|------------------------------------------------------------------------|------|
| shapes       | vt_resnet_mini, -TF, -PE, -DT, resnet_mini on ``shapes`` (largest shape) | 5x5  |
| digits       | the same on scikit-learn's digits                                      | 5x5  |
| pairs        | the same on ``shapes-pairs`` (the label is the pair of two shapes' types) | 5x5  |
| segmentation | vt_fpn_resnet_mini against fpn_resnet_mini on ``shapes`` masks (mIoU)    | 2x3  |
"""

from __future__ import annotations

import argparse
from pathlib import Path

from vtlab.train.ablation import BASELINE, VARIANTS, AblationSettings, run_ablations, save_ablations

DATA = Path(__file__).resolve().parents[1] / "notebooks" / "data"
SEEDS = (0, 1, 2, 3, 4)
CLASSIFY = (BASELINE, *VARIANTS)
# Budgets chosen so that the base model's validation accuracy has flattened by the end (the notebooks show the
# last fifth of the epochs adding little; see AblationSummary.late_gain).
STUDIES = {
    "shapes": AblationSettings(data="shapes", epochs=16, train_size=1000, val_size=300, seeds=SEEDS,
                               variants=CLASSIFY, threads=1),
    "digits": AblationSettings(data="digits", epochs=30, train_size=None, seeds=SEEDS, variants=CLASSIFY, threads=1),
    "pairs": AblationSettings(data="shapes-pairs", epochs=16, train_size=1000, val_size=300, seeds=SEEDS,
                              variants=CLASSIFY, threads=1),
    "segmentation": AblationSettings(model="vt_fpn_resnet_mini", baseline="fpn_resnet_mini", recipe="quick-segment",
                                     data="shapes", epochs=16, train_size=640, val_size=200, seeds=(0, 1, 2),
                                     variants=(BASELINE, "base"), threads=1),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", nargs="+", choices=list(STUDIES), default=list(STUDIES))
    parser.add_argument("--device", default="cpu", help="cpu (default) or cuda")
    parser.add_argument("--out", type=Path, default=DATA, help="folder of the study-NAME.json files")
    args = parser.parse_args()
    for name in args.only:
        settings = STUDIES[name]
        if args.device != "cpu":
            settings = AblationSettings.from_dict({**settings.to_dict(), "device": args.device})
        path = args.out / f"study-{name}.json"
        results = run_ablations(settings, log=lambda line: print(line, flush=True), path=path)
        print(f"wrote {save_ablations(results, path)}")


if __name__ == "__main__":
    main()
