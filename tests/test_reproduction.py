"""The committed default study is what the committed code builds, and building it changes nothing the
tests read: a newcomer's `make run` then `make test` passes on any machine.

That two builds give byte-identical outputs (every hash in dvc.lock) is tested where a grid is built in
three folders: tests/test_teams.py.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
import yaml

from conftest import ROOT, project_env
from tools import staleness


def committed(path: str) -> str:
    return subprocess.run(["git", "show", f"HEAD:{path}"], cwd=ROOT, capture_output=True, text=True, check=True).stdout


@pytest.mark.heavy
def test_the_committed_default_study_ran_the_committed_code(tmp_path: Path, monkeypatch) -> None:
    """`dvc status` of the committed dvc.lock against this tree, code deps only (the outputs of a fresh
    clone are not there): a change of code without a rebuild names the stage and the file."""
    for name in ("params.yaml", "dvc.lock"):
        (tmp_path / name).write_text(committed(name))
    monkeypatch.setenv("PATH", project_env()["PATH"])
    monkeypatch.setenv("DVC_NO_ANALYTICS", "1")
    stale = staleness.stale_code(tmp_path / "params.yaml", tmp_path / "dvc.lock")
    assert not stale, f"the committed default study ran other code; rebuild it (make run) and commit: {stale}"


def written_by_the_run() -> set[str]:
    """Every path `make run` writes: each stage's outputs (the default params' paths), dvc.lock, timings/."""
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    text = (ROOT / "dvc.yaml").read_text()
    written = {"dvc.lock", params["paths"]["timings"]}
    for out in re.findall(r"^\s+- (\$\{paths\.\w+\}[^:\s]*)", text, re.M):
        root = re.match(r"\$\{paths\.(\w+)\}", out).group(1)
        written.add(params["paths"][root].split("/")[0])
    written.add("reports")
    return written


def test_the_run_rewrites_no_file_the_tests_read() -> None:
    """No test opens a workspace file that `make run` rewrites: ROOT / "<output>" nowhere in the tests
    (the README's table is read from git, test_readme.py)."""
    outputs = written_by_the_run()
    assert {"compare", "metrics", "models", "dvc.lock", "data", "reports", "timings"} <= outputs, outputs
    pattern = re.compile(r'ROOT\s*/\s*"(' + "|".join(re.escape(o) for o in sorted(outputs)) + r')["/]')
    readers = [
        f"{path.name}:{n}"
        for path in (ROOT / "tests").glob("*.py")
        for n, line in enumerate(path.read_text().splitlines(), 1)
        if pattern.search(line)
    ]
    assert not readers, readers
