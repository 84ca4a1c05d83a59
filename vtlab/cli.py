"""The ``vtlab`` command: ``vtlab cost`` (the paper's cost tables beside vtlab's), ``vtlab models``."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence


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

    for name in list_models(args.pattern):
        if args.cost:
            model = create_model(name)
            size = args.input_size
            print(f"{name:16s} {count_macs(model, size) / 1e9:8.3f} GMACs at {size}x{size}  "
                  f"{count_params(model) / 1e6:7.2f} M params")
        else:
            print(name)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="vtlab",
                                     description="Visual Transformers (Wu et al. 2020), by the equations.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__import__('vtlab').__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    cost = commands.add_parser("cost", help="the paper's MAC/parameter tables beside vtlab's counts",
                               description="Build every ImageNet model, count MACs (conv + linear + matmul "
                                           "multiply-adds) and parameters (normalization excluded) as the paper "
                                           "does, and print them beside Tables 1-3 and Section 3.2.")
    cost.add_argument("--tables", nargs="+", choices=["1", "2", "3", "3.2"], default=None,
                      help="which tables to print (default: all)")
    cost.add_argument("--json", action="store_true", help="print JSON instead of text tables")
    cost.set_defaults(run=_cost)

    models = commands.add_parser("models", help="list the registered models",
                                 description="List the names create_model() accepts.")
    models.add_argument("pattern", nargs="?", default="*", help="shell-style filter, e.g. 'vt_*' (default: all)")
    models.add_argument("--cost", action="store_true", help="also count each model's MACs and parameters")
    models.add_argument("--input-size", type=int, default=224, help="image size for --cost (default: 224)")
    models.set_defaults(run=_models)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except ValueError as error:
        print(f"vtlab {args.command}: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
