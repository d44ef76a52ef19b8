"""Which committed studies ran code that has changed since: `python -m tools.results --check`.

For each results/<study>/ (and the default study, tests/test_reproduction.py), `dvc status` on a copy of
this tree given the study's params and lock: the stages whose code deps (what no stage writes) differ.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from imgstudy.params import read_yaml

ROOT = Path(__file__).resolve().parents[1]
# The dvc of this interpreter's environment, found also when the environment is not on PATH.
DVC = (sys.executable, "-m", "dvc")
EVERY = "(every stage)"  # the key of stale_code() when the study's params no longer load


def run(*cmd: str, cwd: Path | str | None = None) -> str:
    return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, check=True).stdout.strip()


def git(*args: str) -> str:
    return run("git", *args)


def stale_code(params: Path, lock: Path, root: Path = ROOT) -> dict[str, list[str]]:
    """{stage: [paths]} of the stages whose source deps in `lock` (code: what no stage writes) differ from
    `root`'s working tree. Outputs are not compared: a results folder keeps none of them."""
    entries = read_yaml(lock)["stages"].values()
    outs = {out["path"] for entry in entries for out in entry.get("outs", [])}
    with tempfile.TemporaryDirectory() as tmp:
        for name in git("-C", str(root), "ls-files").splitlines():
            if (root / name).is_file() and not name.startswith("results/"):
                (Path(tmp) / name).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(root / name, Path(tmp) / name)
        shutil.copy2(params, Path(tmp) / "params.yaml")
        shutil.copy2(lock, Path(tmp) / "dvc.lock")
        git("-C", tmp, "init", "-q")
        try:
            status = run(*DVC, "status", "--json", cwd=tmp)
        except subprocess.CalledProcessError as e:  # the study's params no longer fit the pipeline
            return {EVERY: [e.stderr.strip().splitlines()[-1] if e.stderr.strip() else str(e)]}
    stale = {}
    for stage, changes in json.loads(status or "{}").items():
        deps = [c.get("changed deps", {}) for c in changes if isinstance(c, dict)]
        paths = sorted(path for changed in deps for path in changed if not written(path, outs))
        if paths:
            stale[stage] = paths
    return stale


def written(path: str, outs: set[str]) -> bool:
    """Whether a stage writes `path`, inside it (metrics/ holds metrics/<v>/test.json) or around it."""
    return any(path == out or out.startswith(path + "/") or path.startswith(out + "/") for out in outs)


def check(root: Path = ROOT) -> bool:
    """Print, for each committed study, whether its results still match the code; True when all do."""
    current = True
    for folder in sorted(p for p in (root / "results").iterdir() if (p / "dvc.lock").is_file()):
        stale = stale_code(folder / "params.yaml", folder / "dvc.lock", root)
        paths = sorted({path for paths in stale.values() for path in paths})
        if EVERY in stale:
            print(f"{folder.name}: every stage is stale, its params no longer fit the pipeline: {paths[0]}")
        else:
            print(
                f"{folder.name}: "
                + (f"{len(stale)} stages ran other code: {', '.join(paths)}" if stale else "matches the code")
            )
        current = current and not stale
    return current
