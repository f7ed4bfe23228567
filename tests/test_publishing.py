"""Tests of how the book is published: GitHub Actions workflows, Binder, and the weekly unpinned run.

The workflows cannot run here; these tests check that they parse and that every script they, the README and
CONTRIBUTING.md name exists. What the commands do is tested by running them (CI runs .ci/run), not by
comparing their text.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement

from tools.unpinned_requirements import CAPS, unpinned

ROOT = Path(__file__).resolve().parent.parent
WORKFLOWS = ROOT / ".github" / "workflows"


def _workflow(name: str) -> dict:
    workflow = yaml.safe_load((WORKFLOWS / name).read_text())
    # YAML 1.1 reads the key `on` as True.
    workflow["on"] = workflow.pop(True, workflow.get("on"))
    return workflow


def _steps(workflow: dict) -> list[dict]:
    return [step for job in workflow["jobs"].values() for step in job.get("steps", [])]


def _runs(workflow: dict) -> list[str]:
    return [step["run"].strip() for step in _steps(workflow) if "run" in step]


@pytest.mark.parametrize("name", ["tests.yml", "pages.yml", "weekly.yml"])
def test_workflow_parses_and_has_jobs(name):
    workflow = _workflow(name)
    assert workflow["name"] and workflow["on"] and workflow["jobs"]
    for job in workflow["jobs"].values():
        assert job["runs-on"].startswith("ubuntu")
        assert job.get("steps"), "every job has steps"


def test_unpinned_requirements_lift_pins_but_keep_caps():
    text = "# comment\n-e .\n\nkeras==3.15.1\njupyter-book==1.0.4.post1\nfoo[bar]==1.0 ; python_version<'4'\n"
    lines = unpinned(text).splitlines()
    assert lines[:3] == ["# comment", "-e .", ""]
    assert lines[3] == "keras"
    assert lines[4] == "jupyter-book<2"
    requirement = Requirement(lines[5])
    assert requirement.name == "foo" and requirement.extras == {"bar"}
    assert not requirement.specifier and requirement.marker is not None


def test_unpinned_requirements_of_the_real_file():
    lines = unpinned((ROOT / "requirements.txt").read_text()).splitlines()
    packages = [
        Requirement(line) for line in lines if line and not line.startswith(("#", "-e"))
    ]
    assert len(packages) >= 15
    for requirement in packages:
        expected = CAPS.get(requirement.name, "")
        assert str(requirement.specifier) == expected, requirement


def test_every_script_the_docs_and_workflows_name_exists():
    texts = [(ROOT / name).read_text() for name in ("README.md", "CONTRIBUTING.md")]
    texts += ["\n".join(_runs(_workflow(p.name))) for p in WORKFLOWS.glob("*.yml")]
    named = set(
        re.findall(r"(?<![\w/.])((?:tools|\.ci|tests)/[\w./-]*\w)", "\n".join(texts))
    )
    assert {"tools/offline.sh", ".ci/run"} <= named
    missing = sorted(path for path in named if not (ROOT / path).exists())
    assert not missing, f"named but not in the repository: {missing}"
