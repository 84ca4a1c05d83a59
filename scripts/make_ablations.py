"""Regenerate the ablation results that notebooks/05_ablations.ipynb reads: ``notebooks/data/ablations.json``.

    python scripts/make_ablations.py            # 12 short runs: 20 to 70 minutes on 2 CPU cores, by load

It trains ``vt_resnet_mini`` and its -TF, -PE and -DT variants on the generated ``shapes`` scenes with vtlab's
``quick`` recipe, once per seed, on the CPU with 2 threads (see :mod:`vtlab.train.ablation`), and writes what
:func:`vtlab.train.ablation.run_ablations` returns. On the same machine and torch version the file comes out
the same every time.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from vtlab.train.ablation import AblationSettings, run_ablations, save_ablations

DEFAULT_OUT = Path(__file__).resolve().parents[1] / "notebooks" / "data" / "ablations.json"


def main() -> None:
    defaults = AblationSettings()
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=defaults.epochs)
    parser.add_argument("--train-size", type=int, default=defaults.train_size)
    parser.add_argument("--seeds", type=int, nargs="+", default=list(defaults.seeds))
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args()
    settings = AblationSettings(epochs=args.epochs, train_size=args.train_size, seeds=tuple(args.seeds))
    results = run_ablations(settings, log=lambda line: print(line, flush=True))
    print(f"wrote {save_ablations(results, args.out)}")


if __name__ == "__main__":
    main()
