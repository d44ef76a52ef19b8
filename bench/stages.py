"""Where a study's time goes: every stage of the default study built from scratch, timed from DVC's own
verbose log, for two versions of the code in one run on one machine (so the gain is a ratio); the
process start-up; and `dvc repro` with nothing to do against DVC's floor - the same command on a
pipeline of as many stages whose commands do nothing.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from datetime import datetime
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PROJECT = ["dvc.yaml", "params.yaml", "imgstudy", "stages", ".dvc/config", ".dvc/plots", ".dvcignore", ".gitignore"]
STAMP = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) DEBUG: (.*)$")


def env() -> dict:
    return {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "DVC_NO_ANALYTICS": "1",
        "IMGSTUDY_RESUME": tempfile.mkdtemp(prefix="bench-resume-"),
        "GIT_AUTHOR_NAME": "bench",
        "GIT_AUTHOR_EMAIL": "bench@example.com",
        "GIT_COMMITTER_NAME": "bench",
        "GIT_COMMITTER_EMAIL": "bench@example.com",
    }


def checkout(rev: str | None, repo: Path) -> Path:
    """The project's files at `rev` (None: this working tree) in a fresh git repository."""
    repo.mkdir(parents=True)
    if rev is None:
        for name in PROJECT:
            src, dst = ROOT / name, repo / name
            dst.parent.mkdir(parents=True, exist_ok=True)
            if src.is_dir():
                shutil.copytree(src, dst, ignore=shutil.ignore_patterns("__pycache__"))
            else:
                shutil.copy2(src, dst)
    else:
        archive = subprocess.run(["git", "archive", rev, *PROJECT], cwd=ROOT, capture_output=True, check=True).stdout
        subprocess.run(["tar", "-x", "-C", str(repo)], input=archive, check=True)
    for cmd in (["git", "init", "-q"], ["git", "add", "-A"], ["git", "commit", "-qm", "bench"]):
        subprocess.run(cmd, cwd=repo, env=env(), check=True, capture_output=True)
    return repo


def old_packages(rev: str, where: Path) -> dict:
    """What the code at `rev` needs and this environment no longer has (a requirement since dropped, such as
    seaborn), installed into a folder of its own: the environment for `rev`'s build is {"PYTHONPATH": folder}.
    The packages both share keep this environment's versions (a constraints file of what is installed)."""
    pinned = subprocess.run(["git", "show", f"{rev}:requirements.txt"], cwd=ROOT, capture_output=True, text=True)
    missing = []
    for line in pinned.stdout.splitlines():
        name = line.split("#")[0].strip().split("==")[0].split("[")[0]
        if name:
            try:
                metadata.version(name)
            except metadata.PackageNotFoundError:
                missing.append(line.split("#")[0].strip())
    if not missing:
        return {}
    installed = subprocess.run([sys.executable, "-m", "pip", "freeze"], capture_output=True, text=True, check=True)
    where.mkdir(parents=True, exist_ok=True)
    (where / "constraints.txt").write_text(installed.stdout)
    pip = [sys.executable, "-m", "pip", "install", "--quiet", "--target", str(where / "site")]
    subprocess.run([*pip, "-c", str(where / "constraints.txt"), *missing], check=True)
    return {"PYTHONPATH": str(where / "site")}


def stage_seconds(log: str) -> dict[str, float]:
    """{stage: seconds} from `dvc repro -v`: from the first debug line naming the stage as changed to the
    one with its computed md5 (the stage's command and its outputs' hashing)."""
    begun, took = {}, {}
    for line in log.splitlines():
        match = STAMP.match(line)
        if not match:
            continue
        when = datetime.strptime(match[1], "%Y-%m-%d %H:%M:%S,%f").timestamp()
        named = re.search(r"stage: '([^']+)'", match[2])
        if not named:
            continue
        stage = named[1]
        if "changed" in match[2] and stage not in begun:
            begun[stage] = when
        elif match[2].startswith("Computed stage") and stage in begun:
            took[stage] = when - begun[stage]
    return took


def by_kind(seconds: dict[str, float]) -> dict[str, float]:
    kinds: dict[str, float] = defaultdict(float)
    for stage, s in seconds.items():
        kinds[stage.split("@")[0]] += s
    return dict(kinds)


def build(rev: str | None, where: Path) -> dict:
    """The default study from scratch at `rev` (None: this tree): wall time, seconds per stage, a no-op repro."""
    repo = checkout(rev, where)
    run_env = {**env(), **(old_packages(rev, where.parent / f"{where.name}-packages") if rev else {})}
    began = time.perf_counter()
    log = subprocess.run(["dvc", "repro", "-v"], cwd=repo, env=run_env, capture_output=True, text=True)
    if log.returncode:
        raise SystemExit(f"`dvc repro` of {rev or 'this tree'} failed:\n{log.stderr[-3000:]}")
    wall = time.perf_counter() - began
    began = time.perf_counter()
    out = subprocess.run(["dvc", "repro"], cwd=repo, env=run_env, capture_output=True, text=True).stdout
    noop = time.perf_counter() - began
    assert "Running stage" not in out, out
    seconds = stage_seconds(log.stdout + log.stderr)
    return {"minutes": wall / 60, "noop_seconds": noop, "stages": len(seconds), "seconds": seconds, "repo": repo,
            "env": run_env}  # fmt: skip


def start_up(repo: Path, module: str, run_env: dict) -> float:
    """Seconds of `python -m <module> --help`: the imports a stage pays before any work."""
    began = time.perf_counter()
    subprocess.run([sys.executable, "-m", module, "--help"], cwd=repo, env=run_env, capture_output=True, check=True)
    return time.perf_counter() - began


def dvc_floor(stages: int, where: Path) -> float:
    """`dvc repro` with nothing to do on a pipeline of `stages` stages whose commands only touch their
    output: what DVC itself costs to check a pipeline of that size."""
    where.mkdir(parents=True)
    lines = ["stages:"]
    for i in range(stages):
        lines += [f"  s{i}:", f"    cmd: echo {i} > out{i}", f"    deps: [{'in' if i == 0 else f'out{i - 1}'}]",
                  f"    outs: [out{i}]"]  # fmt: skip
    (where / "dvc.yaml").write_text("\n".join(lines) + "\n")
    (where / "in").write_text("start\n")
    for cmd in (["git", "init", "-q"], ["dvc", "init", "-q"], ["dvc", "repro", "-q"]):
        subprocess.run(cmd, cwd=where, env=env(), check=True, capture_output=True)
    began = time.perf_counter()
    subprocess.run(["dvc", "repro"], cwd=where, env=env(), check=True, capture_output=True)
    return time.perf_counter() - began


def compare_versions(before: str, keep_model: Path) -> tuple[dict, list[tuple[str, str, str]]]:
    """The default study built by the code at `before` and by this tree, one after the other."""
    with tempfile.TemporaryDirectory() as tmp:
        old, new = build(before, Path(tmp) / "before"), build(None, Path(tmp) / "now")
        floor = dvc_floor(new["stages"], Path(tmp) / "floor")
        starts = {
            name: start_up(run["repo"], "stages.train", run["env"]) for name, run in (("before", old), ("now", new))
        }
        keep_model.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(new["repo"] / "best_model" / "model.pt", keep_model)
    kinds = {name: by_kind(run["seconds"]) for name, run in (("before", old), ("now", new))}
    rows = [("default study from scratch (dvc repro), minutes", f"{old['minutes']:.1f} -> {new['minutes']:.1f}",
             f"{old['minutes'] / new['minutes']:.2f}x")]  # fmt: skip
    for kind in sorted(set(kinds["before"]) | set(kinds["now"])):
        a, b = kinds["before"].get(kind), kinds["now"].get(kind)
        shown = f"{a:.0f} -> {b:.0f}" if a and b else f"{a or 0:.0f} -> {b or 0:.0f}"
        rows.append((f"stage seconds, {kind} (all variants)", shown, f"{a / b:.2f}x" if a and b else "merged"))
    per_variant = {name: sum(s for stage, s in run["seconds"].items() if "@F1" in stage and "train" not in stage)
                   for name, run in (("before", old), ("now", new))}  # fmt: skip
    train = new["seconds"].get("train@F1", 0.0)
    rows += [
        ("F.1's evaluation stages (evaluate, robustness, explain before; evaluate now), s",
         f"{per_variant['before']:.1f} -> {per_variant['now']:.1f}", f"train@F1 {train:.1f} s"),
        ("stage start-up (`python -m stages.train --help`), s", f"{starts['before']:.2f} -> {starts['now']:.2f}", ""),
        ("`dvc repro` with nothing to do, s (stages)", f"{old['noop_seconds']:.1f} ({old['stages']}) -> "
         f"{new['noop_seconds']:.1f} ({new['stages']})", f"DVC's floor at {new['stages']} stages: {floor:.1f} s"),
    ]  # fmt: skip
    results = {
        "before": before,
        "make_run_minutes": {"before": old["minutes"], "now": new["minutes"]},
        "stage_seconds": {name: run["seconds"] for name, run in (("before", old), ("now", new))},
        "stage_kind_seconds": kinds,
        "noop_repro_seconds": {"before": old["noop_seconds"], "now": new["noop_seconds"], "dvc_floor": floor},
        "start_up_seconds": starts,
    }
    return results, rows
