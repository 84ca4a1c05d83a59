"""The ``vtlab`` command: help on every subcommand, the cost report, errors."""

import json
import subprocess
import sys
from importlib.metadata import entry_points

import pytest

from vtlab.cli import build_parser, main


def run(*args):
    return subprocess.run([sys.executable, "-m", "vtlab", *args], capture_output=True, text=True, timeout=300)


def test_console_script_points_at_main():
    (script,) = [e for e in entry_points(group="console_scripts") if e.name == "vtlab"]
    assert script.load() is main


@pytest.mark.parametrize("command", [[], ["cost"], ["models"], ["train"], ["eval"], ["reproduce"]])
def test_help_on_every_subcommand(command):
    result = run(*command, "--help")
    assert result.returncode == 0 and result.stdout.startswith("usage: vtlab")
    assert "Warning" not in result.stderr


def test_every_subcommand_is_covered_by_the_help_test():
    subparsers = next(a for a in build_parser()._actions if a.dest == "command")
    assert set(subparsers.choices) == {"cost", "models", "train", "eval", "reproduce"}


def test_cost_prints_section_3_2():
    result = run("cost", "--tables", "3.2")
    assert result.returncode == 0, result.stderr
    assert "6.34" in result.stdout and "40.38" in result.stdout


def test_cost_json(capsys):
    assert main(["cost", "--tables", "1", "--json"]) == 0
    (table,) = json.loads(capsys.readouterr().out)
    rows = {row[0]: row for row in table["rows"]}
    assert rows["resnet18"][2] == 1.814 and set(rows) >= {"vt_resnet18", "vt_resnet101"}


def test_models_lists_and_counts(capsys):
    assert main(["models", "vt_resnet1*", "--cost", "--input-size", "64"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in out] == ["vt_resnet101", "vt_resnet18"]


def test_bad_arguments_exit_with_usage():
    result = run("cost", "--tables", "9")
    assert result.returncode == 2 and "invalid choice: '9'" in result.stderr
