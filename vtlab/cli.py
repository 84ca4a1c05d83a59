"""The ``vtlab`` command: ``reproduce`` (the main job), ``cost``, ``models``, ``train``, ``eval``.

Under ``torchrun --nproc_per_node N -m vtlab train ...`` training runs distributed (see vtlab.train).

A bad argument, input or file ends the command with one line on stderr, ``vtlab: error: <what was expected and
what came>``, and exit status 2; ``--debug`` shows the traceback instead."""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from collections.abc import Sequence

from .cost import paper
from .data.registry import data_help


class Parser(argparse.ArgumentParser):
    """argparse, with its errors on one line (``vtlab: error: ...``) like every other error of the command."""

    def error(self, message: str):
        self.exit(2, f"vtlab: error: {message} (see `{self.prog} --help`)\n")


def _number(kind: type, least: float, what: str):
    """An argparse type: ``kind`` (int or float) >= ``least`` (> 0 for floats), finite."""
    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            value = None
        if value is None or not math.isfinite(value) or value < least or (kind is float and value <= 0):
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}")
        return value
    return parse


POSITIVE = _number(int, 1, "a positive integer")
NON_NEGATIVE = _number(int, 0, "an integer >= 0")
POSITIVE_FLOAT = _number(float, 0, "a finite number > 0")


def _cost(args: argparse.Namespace) -> int:
    from .cost.report import cost_report

    comparisons = cost_report(args.tables)
    if args.json:
        print(json.dumps([c.to_dict() for c in comparisons], indent=2))
    else:
        print("\n\n".join(c.format() for c in comparisons))
    return 0


def _models(args: argparse.Namespace) -> int:
    from . import count_macs, count_params, create_model, list_models
    from .models import model_input_size

    for name in list_models(args.pattern):
        if args.cost:
            model = create_model(name)
            size = args.input_size or model_input_size(name)
            print(f"{name:16s} {count_macs(model, size) / 1e9:8.3f} GMACs at {size}x{size}  "
                  f"{count_params(model) / 1e6:7.2f} M params")
        else:
            print(name)
    return 0


ABLATIONS = {name.removeprefix("-"): options for name, options in paper.ABLATIONS.items()}  # TF → transformer=False


def default_recipe(task: str | None, model: str | None) -> str:
    """The recipe a ``vtlab train`` without ``--recipe`` uses: the quick one of the task (given, or the model's)."""
    from .models import model_task

    task = task or (model_task(model) if model else "classify")
    return "quick-segment" if task == "segment" else "quick"


def _train(args: argparse.Namespace) -> int:
    from .models import model_task
    from .train import TrainConfig, get_recipe, train

    recipe = get_recipe(args.recipe or default_recipe(args.task, args.model))
    model = args.model or recipe.model
    if args.task and model_task(model) != args.task:
        raise ValueError(f"--task {args.task} but model {model!r} is a {model_task(model)} model")
    if args.ablate and not model.startswith("vt_"):
        raise ValueError(f"--ablate {' '.join(args.ablate)} applies to VT models (vt_*), whose blocks have a "
                         f"transformer, position encoding and tokenizer; got --model {model}")
    options = {k: v for name in args.ablate for k, v in ABLATIONS[name].items()}
    out = args.out or f"runs/{model}-{recipe.name}-seed{args.seed}"
    config = TrainConfig(recipe=recipe.name, model=model, data=args.data, epochs=args.epochs,
                         batch_size=args.batch_size, lr=args.lr, seed=args.seed, out=out, resume=args.resume,
                         device=args.device, workers=args.workers, compile=args.compile, image_size=args.image_size,
                         train_size=args.train_size, download=args.download, progress=not args.quiet,
                         stop_after=args.stop_after, val_size=args.val_size,
                         model_options=options, require_checkpoint=args.resume, allow_changes=args.allow_changes,
                         skip_bad=args.skip_bad, dist_timeout=args.dist_timeout)
    try:
        rows = train(config)
    except KeyboardInterrupt:
        print(f"\n{_interrupted(out)}", file=sys.stderr)
        return 130
    if rows and os.environ.get("RANK", "0") == "0":
        print(f"{model}: val acc {rows[-1]['val_acc']:.4f} after {rows[-1]['epoch']} epochs; run saved in {out}")
    return 0


def _interrupted(out: str) -> str:
    """What an interrupted ``vtlab train`` says: what is saved in ``out``, and how to go on."""
    from pathlib import Path

    from .train.checkpoint import checkpoint_epoch

    epoch = checkpoint_epoch(Path(out) / "checkpoint.pt")  # None where no readable checkpoint was written
    if not epoch:
        return (f"interrupted before the first epoch finished: nothing of the run was saved in {out}; run the same "
                f"command again (without --resume) to start it")
    return f"interrupted: the {epoch} finished epoch(s) are saved in {out}; continue with the same command and --resume"


def _eval(args: argparse.Namespace) -> int:
    from .train.evaluation import evaluate_run

    result = evaluate_run(args.run, split=args.split, ema=args.ema, data=args.data, device=args.device,
                          batch_size=args.batch_size)
    miou = f", mIoU {result['miou']:.4f} (accuracy per labelled pixel)" if "miou" in result else ""
    print(f"{args.run}: {args.split} loss {result['loss']:.4f}, accuracy {result['acc']:.4f}{miou} over "
          f"{result['images']} images{' (EMA weights)' if args.ema else ''}")
    return 0


def _reproduce(args: argparse.Namespace) -> int:
    from .reproduce import reproduce

    try:
        reproduce(args.out, full=args.full, seed=args.seed, live_epochs=args.live_epochs, progress=not args.quiet)
    except KeyboardInterrupt:
        print(f"\ninterrupted: finished epochs (and with --full, finished study runs) are saved under {args.out}; "
              "run the same command to continue",
              file=sys.stderr)
        return 130
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="vtlab", description="Visual Transformers (Wu et al. 2020), by the equations.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__import__('vtlab').__version__}")
    parser.add_argument("--debug", action="store_true", help="show the traceback of an error, not one line")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    cost = commands.add_parser("cost", help="the paper's MAC/parameter tables beside vtlab's counts",
                               description="Build every ImageNet model, count MACs (conv + linear + matmul "
                                           "multiply-adds) and parameters (normalization excluded) as the paper "
                                           "does, and print them beside Tables 1-4 and Section 3.2 (Table 4 "
                                           "counts the segmentation models at 800x1216 and 473x473: about a "
                                           "minute).")
    cost.add_argument("--tables", nargs="+", choices=["1", "2", "3", "3.2", "4"], default=None,
                      help="which tables to print (default: all)")
    cost.add_argument("--json", action="store_true", help="print JSON instead of text tables")
    cost.set_defaults(handler=_cost)

    models = commands.add_parser("models", help="list the registered models",
                                 description="List the names create_model() accepts.")
    models.add_argument("pattern", nargs="?", default="*", help="shell-style filter, e.g. 'vt_*' (default: all)")
    models.add_argument("--cost", action="store_true", help="also count each model's MACs and parameters")
    models.add_argument("--input-size", type=POSITIVE, default=None,
                        help="image size for --cost (default: each model's own, 224 for the ImageNet models)")
    models.set_defaults(handler=_models)

    train = commands.add_parser(
        "train", help="train a model with a recipe",
        description="Train a model on a dataset with a named recipe; writes run.json, metrics.csv, checkpoint.pt "
                    "(every epoch, atomically) and model.safetensors to --out. Distributed: "
                    "torchrun --nproc_per_node N -m vtlab train ...")
    train.add_argument("--task", choices=["classify", "segment"],
                       help="classify (default) or segment; picks the default recipe and model")
    train.add_argument("--recipe", help="classification: quick (default), imagenet, imagenet-ablation; segmentation: "
                                        "quick-segment (default), coco-stuff, lip")
    train.add_argument("--model", help="a name from `vtlab models` (default: the recipe's)")
    train.add_argument("--data", help=f"{data_help()} (default: the recipe's)")
    train.add_argument("--epochs", type=POSITIVE, help="default: the recipe's")
    train.add_argument("--batch-size", type=POSITIVE, help="global batch size (default: the recipe's); the lr "
                                                           "scales linearly with it")
    train.add_argument("--lr", type=POSITIVE_FLOAT, help="peak learning rate, overriding the recipe's scaled one")
    train.add_argument("--seed", type=NON_NEGATIVE, default=0)
    train.add_argument("--out", help="run folder (default: runs/MODEL-RECIPE-seedSEED); one run writes it at a "
                                     "time (it is locked)")
    train.add_argument("--resume", action="store_true",
                       help="continue the run saved in --out (an error if it holds no checkpoint), with the "
                            "settings recorded in its run.json")
    train.add_argument("--allow-changes", action="store_true",
                       help="with --resume: accept settings that differ from run.json's (recorded there); the "
                            "model and --ablate can never change")
    train.add_argument("--stop-after", type=POSITIVE, metavar="N",
                       help="end after N epochs of this session, resumable with --resume (e.g. a job's time limit)")
    train.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    train.add_argument("--workers", type=NON_NEGATIVE, default=0, help="data-loading processes (default: 0)")
    train.add_argument("--compile", action="store_true", help="torch.compile the model")
    train.add_argument("--image-size", type=POSITIVE, help="resize images to this size (default: the data's)")
    train.add_argument("--train-size", type=POSITIVE,
                       help="training items: scenes generated for shapes, a seeded sample of the training split "
                       "for any other data")
    train.add_argument("--val-size", type=POSITIVE,
                       help="validation items: scenes for shapes (default: 500), a seeded "
                       "sample of the validation split otherwise (default: all)")
    train.add_argument("--download", action="store_true", help="let CIFAR download its archive (needs a network)")
    train.add_argument("--ablate", nargs="+", default=[], choices=list(ABLATIONS),
                       help="Table 3 ablations of a VT model: TF (no transformer), PE (no position encoding), "
                            "DT (static tokenizers; VT-FPN's are static already)")
    train.add_argument("--skip-bad", action="store_true",
                       help="leave out the data files that the scan before the first epoch finds unreadable or "
                            "out of range, and say how many (default: stop, naming them)")
    train.add_argument("--dist-timeout", type=POSITIVE_FLOAT, default=300.0, metavar="SECONDS",
                       help="under torchrun: how long a process waits for its peers at the start (default: 300)")
    train.add_argument("--quiet", action="store_true", help="no progress bars or per-epoch lines")
    train.set_defaults(handler=_train)

    evaluate = commands.add_parser("eval", help="evaluate a finished or running training run",
                                   description="Load a run folder's weights and report loss and accuracy.")
    evaluate.add_argument("run", help="a run folder written by `vtlab train`")
    evaluate.add_argument("--split", default="val", choices=["train", "val"])
    evaluate.add_argument("--ema", action="store_true", help="use the EMA weights (recipes with EMA)")
    evaluate.add_argument("--data", help="evaluate on other data of the same classes (default: the run's)")
    evaluate.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    evaluate.add_argument("--batch-size", type=POSITIVE, default=128)
    evaluate.set_defaults(handler=_eval)

    repro = commands.add_parser(
        "reproduce", help="the paper's claims at toy scale (cached, seeded), its cost tables, and a live training pair",
        description="Print the cached seeded studies (VT-ResNet-mini vs ResNet-mini and Table 3's ablations on three "
                    "tasks, VT-FPN-mini vs FPN-mini; mean ± std over seeds, beside the paper's figures), count the "
                    "cost tables (Tables 1-4, Section 3.2), then train the first epochs of one cached run pair live "
                    "and compare; write report.md and figure.html to --out. About 2-3 minutes on 2 CPU cores; "
                    "nothing is downloaded. --full retrains every study on this machine (about 2 hours on 2 cores).")
    repro.add_argument("--out", default="reproduce", help="output folder (default: reproduce)")
    repro.add_argument("--full", action="store_true",
                       help="retrain every study here (resumable) instead of reading the cached results")
    repro.add_argument("--seed", type=NON_NEGATIVE, default=0,
                       help="which seed of the shapes study the live pair retraces (default: 0)")
    repro.add_argument("--live-epochs", type=POSITIVE, default=3,
                       help="epochs of the live pair (default: 3)")
    repro.add_argument("--quiet", action="store_true", help="no progress output")
    repro.set_defaults(handler=_reproduce)
    for command in commands.choices.values():  # `vtlab train ... --debug` as well as `vtlab --debug train ...`
        command.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                             help="show the traceback of an error, not one line")
    return parser


def one_line(error: BaseException) -> str:
    """An error's message on one line. An error that a data-loader worker raised arrives with the worker's
    traceback in its message ("Caught ValueError in DataLoader worker process 0. Original Traceback ..."):
    the line is the original error's own message."""
    text = str(error)
    if "Original Traceback" in text:
        last = [line for line in text.strip().splitlines() if line.strip()][-1]
        prefix = f"{type(error).__name__}: "
        text = last[len(prefix):] if last.startswith(prefix) else last
    return " ".join(text.split()) or type(error).__name__


def main(argv: Sequence[str] | None = None) -> int:
    """Run a command; an error that a user can fix (a bad argument, input, file or run folder; a training that
    diverged) is one line on stderr and exit status 2, or its traceback with ``--debug``."""
    from .train.engine import NonFiniteLossError

    args = build_parser().parse_args(argv)
    try:
        return args.handler(args)
    except (ValueError, OSError, NonFiniteLossError) as error:
        if args.debug:
            raise
        print(f"vtlab: error: {one_line(error)}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
