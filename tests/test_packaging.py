"""The README's Quickstart, .ci/run, environment.yml and pyproject.toml agree with each other."""

import re
from pathlib import Path

import tomllib
import yaml

ROOT = Path(__file__).resolve().parents[1]


def quickstart_commands() -> list[str]:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Quickstart", 1)[1]
    block = re.search(r"```[a-z]*\n(.*?)```", section, re.S).group(1)
    return [line for line in block.splitlines() if line.strip()]


def test_quickstart_is_two_one_line_commands():
    commands = quickstart_commands()
    assert len(commands) == 2 and not any(c.rstrip().endswith("\\") for c in commands)
    install, test = commands
    assert install.startswith("pip install") and "vtlab " in install
    assert test.startswith("pip install") and "pytest" in test


def test_ci_runs_the_readme_test_command():
    ci = (ROOT / ".ci" / "run").read_text()
    assert "## Quickstart" in ci and "sed -n 2p" in ci  # it reads line 2 from the README, not a copy


def test_environment_yml_installs_the_project_with_all_extras():
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert "conda-forge" in env["channels"]
    python = next(d for d in env["dependencies"] if isinstance(d, str) and d.startswith("python"))
    minimum = tuple(int(x) for x in project["requires-python"].removeprefix(">=").split("."))
    assert tuple(int(x) for x in python.split("=")[1].split(".")) >= minimum
    (pip_section,) = [d["pip"] for d in env["dependencies"] if isinstance(d, dict)]
    assert pip_section == ["-e .[all]"]
    # nothing else is installed by conda that pyproject would also pin
    assert {d.split("=")[0] for d in env["dependencies"] if isinstance(d, str)} == {"python", "pip"}


def test_all_extra_is_the_union_of_the_others():
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    assert {"notebooks", "docs", "dev", "all"} <= set(extras)
    others = {req for name, reqs in extras.items() if name != "all" for req in reqs}
    assert set(extras["all"]) == others


def test_torch_ranges_admit_the_offline_wheels():
    from packaging.requirements import Requirement

    deps = {Requirement(d).name: Requirement(d) for d in tomllib.loads(
        (ROOT / "pyproject.toml").read_text())["project"]["dependencies"]}
    assert deps["torch"].specifier.contains("2.14.1") and deps["torchvision"].specifier.contains("0.29.1")


def test_readme_table1_is_what_vtlab_cost_prints():
    from vtlab.cost.report import table1_comparison

    assert table1_comparison().format() in (ROOT / "README.md").read_text()
