"""Regenerate the probing checkpoint shipped with vtlab: ``vtlab/assets/vt_resnet_mini_shapes.safetensors``.

    python scripts/make_probe_checkpoint.py            # about 10 minutes on 2 CPU cores

It trains ``vt_resnet_mini`` on the embedded ``shapes`` scenes with vtlab's own ``quick`` recipe (seed 0, 2
threads) and keeps the weights with the run's record (recipe, epochs, validation accuracy) as safetensors
metadata. On the CPU the run is deterministic, so the file comes out the same from the same torch version.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from vtlab.probe import PROBE_CHECKPOINT
from vtlab.train import TrainConfig, train


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--out", type=Path, default=PROBE_CHECKPOINT)
    args = parser.parse_args()
    torch.set_num_threads(2)
    with tempfile.TemporaryDirectory() as run:
        config = TrainConfig(recipe="quick", model="vt_resnet_mini", data="shapes", epochs=args.epochs, seed=0,
                             out=run, device="cpu")
        history = train(config)
        weights = load_file(str(Path(run) / "model.safetensors"))
        info = json.loads((Path(run) / "run.json").read_text())  # what was run, as the engine recorded it
    record = {**{key: str(info[key]) for key in ("model", "num_classes", "data", "recipe", "seed")},
              "epochs": str(args.epochs), "val_acc": f"{history[-1]['val_acc']:.4f}",
              "history": json.dumps([{k: row[k] for k in ("epoch", "train_loss", "val_loss", "val_acc")}
                                     for row in history])}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    save_file(weights, str(args.out), metadata=record)
    print(f"wrote {args.out} ({args.out.stat().st_size / 1e6:.1f} MB), validation accuracy {record['val_acc']}")


if __name__ == "__main__":
    main()
