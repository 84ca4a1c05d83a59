"""Regenerate the seeded studies that ship with vtlab (``vtlab/assets/studies/study-*.json``), resumably.

    python scripts/make_studies.py                      # every study; each file is rewritten after every run
    python scripts/make_studies.py --only shapes digits # some of them

The studies are :data:`vtlab.studies.STUDIES`. Each trains the compact VT model, its Table 3 ablations
(-TF, -PE, -DT) and its convolutional baseline once per seed with vtlab's engine (see :mod:`vtlab.studies`),
on the CPU with one thread per process (run two at once on two cores, e.g. by seed with ``--seeds``) unless
``--device cuda``. Interrupt it at any time: run the same command again and it trains only the runs that are
missing. Every run records its device, its wall time and its epochs.

| study        | what                                                                              | runs  |
|--------------|-----------------------------------------------------------------------------------|-------|
| shapes       | vt_resnet_mini, -TF, -PE, -DT, uncentred, resnet_mini on ``shapes`` (largest shape) | 6x8   |
| digits       | vt_resnet_mini, -TF, -PE, -DT, resnet_mini on scikit-learn's digits               | 5x5   |
| relations    | vt_resnet_mini, -TF, resnet_mini on ``shapes-same-colour`` (do two shapes match?)  | 3x8   |
| segmentation | vt_fpn_resnet_mini, its lateral convs alone, fpn_resnet_mini on ``shapes`` masks   | 3x10  |

The budget is about six CPU-hours in all (three hours on two cores), each run's wall time recorded in its file.
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

from vtlab.studies import CONTROLS, STUDIES, STUDY_DIR, run_study, save_study


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", nargs="+", choices=list(STUDIES), default=list(STUDIES))
    parser.add_argument("--device", default="cpu", help="cpu (default) or cuda")
    parser.add_argument("--out", type=Path, default=STUDY_DIR, help="folder of the study-NAME.json files "
                        "(default: the copies vtlab ships and reads, vtlab/assets/studies)")
    parser.add_argument("--seeds", type=int, nargs="+", default=None,
                        help="train only these seeds (two processes with different seeds can share a study)")
    parser.add_argument("--variants", nargs="+", default=None,
                        type=lambda name: name if name in ("baseline", "base", *CONTROLS) else "-" + name.lstrip("-"),
                        help="train only these variants (baseline, base, a control such as lateral or uncentred, "
                             "or TF, PE, DT: the ablations without their dash, which the shell would read as an "
                             "option), likewise")
    args = parser.parse_args()
    for name in args.only:
        settings = STUDIES[name]
        if args.device != "cpu":
            settings = dataclasses.replace(settings, device=args.device)
        path = args.out / f"study-{name}.json"
        study = run_study(settings, log=lambda line: print(line, flush=True), path=path, seeds=args.seeds,
                          variants=args.variants)
        done = len(study.runs) == len(settings.seeds) * len(settings.variants)
        if done:  # rewritten whole and checked complete, in the settings' order
            save_study(study, path)
        print(f"{path}: {len(study.runs)} runs" + ("" if done else " so far (run again to add the rest)"))


if __name__ == "__main__":
    main()
