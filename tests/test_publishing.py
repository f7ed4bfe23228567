"""Tests of how the book is published: GitHub Actions workflows, Binder, and the weekly unpinned run.

The workflows cannot run here; these tests check that they parse, run on the right events, and call the
same commands as the README and .ci/run, so that what CI checks is what a reader and the published book get.
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
README = (ROOT / "README.md").read_text()


def _workflow(name: str) -> dict:
    workflow = yaml.safe_load((WORKFLOWS / name).read_text())
    # YAML 1.1 reads the key `on` as True.
    workflow["on"] = workflow.pop(True, workflow.get("on"))
    return workflow


def _steps(workflow: dict) -> list[dict]:
    return [step for job in workflow["jobs"].values() for step in job.get("steps", [])]


def _runs(workflow: dict) -> list[str]:
    return [step["run"].strip() for step in _steps(workflow) if "run" in step]


def _uses(workflow: dict, action: str) -> list[dict]:
    return [s for s in _steps(workflow) if s.get("uses", "").startswith(action + "@")]


def _readme_commands() -> set[str]:
    """Every command in the README's bash blocks, split at `&&`."""
    blocks = re.findall(r"```bash\n(.*?)```", README, flags=re.S)
    return {
        part.strip()
        for block in blocks
        for line in block.splitlines()
        for part in line.split("&&")
        if part.strip()
    }


@pytest.mark.parametrize("name", ["tests.yml", "pages.yml", "weekly.yml"])
def test_workflow_parses_and_has_jobs(name):
    workflow = _workflow(name)
    assert workflow["name"] and workflow["on"] and workflow["jobs"]
    for job in workflow["jobs"].values():
        assert job["runs-on"].startswith("ubuntu")
        assert job.get("steps"), "every job has steps"


def test_pull_requests_run_ci():
    workflow = _workflow("tests.yml")
    assert "pull_request" in workflow["on"]
    assert "bash .ci/run" in _runs(workflow)
    python = _uses(workflow, "actions/setup-python")[0]["with"]["python-version"]
    assert python == "3.11", "CI tests the Python version the README names"
    kept = [s["with"]["path"] for s in _uses(workflow, "actions/upload-artifact")]
    assert "_build/screenshots" in kept, "the browser test's screenshots are kept"


def test_pages_deploys_main_with_the_execution_cache():
    workflow = _workflow("pages.yml")
    assert workflow["on"]["push"]["branches"] == ["main"]
    assert workflow["permissions"]["pages"] == "write"
    cache = _uses(workflow, "actions/cache")
    assert cache and cache[0]["with"]["path"] == "_build/.jupyter_cache"
    assert (
        _uses(workflow, "actions/upload-pages-artifact")[0]["with"]["path"]
        == "_build/html"
    )
    assert _uses(workflow, "actions/deploy-pages")
    runs = _runs(workflow)
    readme = _readme_commands()
    for command in runs:
        base = command.replace(" -W -n --keep-going", "")
        assert base in readme, (
            f"pages.yml runs {command!r}, which the README does not document"
        )
    # The published book is built the way the README builds it, in the README's order.
    assert runs == [
        "pip install -r requirements.txt",
        "python tools/assignments.py build",
        "jupyter-book build . -W -n --keep-going",
    ]


def test_weekly_run_uses_the_newest_releases():
    workflow = _workflow("weekly.yml")
    assert workflow["on"]["schedule"][0]["cron"]
    runs = "\n".join(_runs(workflow))
    assert "tools/unpinned_requirements.py requirements.txt" in runs
    assert 'REQUIREMENTS="$RUNNER_TEMP/requirements-newest.txt" bash .ci/run' in runs


def test_ci_runs_the_readme_commands():
    ci = (ROOT / ".ci" / "run").read_text()
    readme = _readme_commands()
    for command in (
        "pytest",
        "python tools/assignments.py build",
        "jupyter-book build .",
        "pytest tests/test_site.py",
    ):
        assert command in readme, f"README lacks {command!r}"
        assert command in ci, f".ci/run lacks {command!r}"


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


def test_binder_builds_from_requirements_txt():
    """repo2docker (Binder) installs requirements.txt (which installs the package, `-e .`) on the
    Python named in runtime.txt, the version CI tests."""
    assert (ROOT / "runtime.txt").read_text().strip() == "python-3.11"
    assert "-e ." in (ROOT / "requirements.txt").read_text().splitlines()
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    assert config["launch_buttons"]["binderhub_url"] == "https://mybinder.org"
    assert config["launch_buttons"]["colab_url"] == "https://colab.research.google.com"
    assert config["repository"]["url"].startswith("https://github.com/")
