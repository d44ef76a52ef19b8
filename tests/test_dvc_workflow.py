"""dvc.yaml cannot go stale: every stage's deps cover its imports; outputs hold no machine paths;
user errors are one message, not a traceback."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from conftest import ROOT, project_env, sh, train_cmd

DVC = yaml.safe_load((ROOT / "dvc.yaml").read_text())


def module_file(name: str) -> Path | None:
    """The repository file of a dotted module name, or None for third-party modules."""
    parts = name.split(".")
    for candidate in (ROOT.joinpath(*parts).with_suffix(".py"), ROOT.joinpath(*parts, "__init__.py")):
        if candidate.is_file():
            return candidate
    return None


def imports_of(path: Path) -> list[str]:
    """Every module `path` imports, at module level or inside a function (an import on use still runs
    when the stage does)."""
    names: list[str] = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.extend(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.append(node.module)
            names.extend(f"{node.module}.{a.name}" for a in node.names)  # a submodule imported by name
    return names


def import_closure(module: str) -> set[Path]:
    """Every repository file imported, directly or not, by importing `module` (package __init__s included)."""
    seen: set[Path] = set()
    todo = [module]
    while todo:
        parts = todo.pop().split(".")
        for i in range(1, len(parts) + 1):
            path = module_file(".".join(parts[:i]))
            if path is not None and path not in seen:
                seen.add(path)
                todo.extend(imports_of(path))
    return seen


def test_the_import_closure_sees_through_packages() -> None:
    closure = {str(p.relative_to(ROOT)) for p in import_closure("stages.split")}
    assert {
        "stages/split.py",
        "imgstudy/params/load.py",
        "imgstudy/pipeline/split.py",
        "imgstudy/data/split.py",
        "imgstudy/data/store.py",
        "imgstudy/core/errors.py",
    } <= closure
    assert not any(p.startswith("imgstudy/training") for p in closure)  # split needs no training code


def test_a_function_level_import_is_followed(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text("def f():\n    from imgstudy.models import unet\n    import torch\n")
    assert {"imgstudy.models", "imgstudy.models.unet", "torch"} <= set(imports_of(module))


@pytest.mark.parametrize("stage", sorted(DVC["stages"]))
def test_deps_cover_every_imported_file(stage: str) -> None:
    body = DVC["stages"][stage].get("do", DVC["stages"][stage])
    deps = [d for d in body["deps"] if "${" not in d]
    missing = []
    for path in sorted(import_closure(f"stages.{stage}")):
        rel = path.relative_to(ROOT).as_posix()
        if not any(rel == d or rel.startswith(d.rstrip("/") + "/") for d in deps):
            missing.append(rel)
    assert not missing, f"dvc.yaml stage {stage!r} imports {missing} but does not list them (or their folder) in deps"


def test_training_deps_leave_out_evaluation_and_decoding_code() -> None:
    """Folder deps must not make unrelated edits re-run training."""
    for stage in ("train", "seg_train"):
        deps = DVC["stages"][stage]["do"]["deps"]
        assert "imgstudy/evaluation" not in deps and "imgstudy/data" not in deps and "imgstudy" not in deps, deps


def test_raw_data_hashes_the_same_in_two_folders(tmp_path: Path) -> None:
    """SOURCE.json records where the data came from, never this machine's install path."""
    hashes = []
    for where in (tmp_path / "a", tmp_path / "deeper" / "b"):
        where.mkdir(parents=True)
        for name in ("dvc.yaml", "params.yaml", "stages", "imgstudy", ".dvc/config"):
            src, dst = ROOT / name, where / name
            dst.parent.mkdir(parents=True, exist_ok=True)
            if src.is_dir():
                subprocess.run(["cp", "-r", str(src), str(dst)], check=True)
            else:
                dst.write_bytes(src.read_bytes())
        sh(where, "git", "init", "-q")
        sh(where, "dvc", "repro", "download")
        lock = yaml.safe_load((where / "dvc.lock").read_text())
        hashes.append(lock["stages"]["download"]["outs"][0]["md5"])
        assert str(where) not in (where / "data/raw/mnist/SOURCE.json").read_text()
    assert hashes[0] == hashes[1]


def run_stage(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", *args], cwd=cwd, env=project_env(), capture_output=True, text=True)


def test_user_errors_are_one_message_without_a_traceback(tmp_path: Path) -> None:
    bad = tmp_path / "params.yaml"
    bad.write_text((ROOT / "params.yaml").read_text().replace("optimizer: adam ", "optimizer: adamz "))
    result = subprocess.run(train_cmd(tmp_path, "o", bad), cwd=ROOT, env=project_env(), capture_output=True, text=True)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.startswith("error: ") and "train.optimizer = 'adamz': unknown optimizer" in result.stderr

    images = tmp_path / "photos" / "cat"  # one image that cannot be decoded, of one: over max_bad_fraction
    images.mkdir(parents=True)
    (images / "broken.png").write_bytes(b"not a png")
    (tmp_path / "photos" / "dog").mkdir()
    (tmp_path / "photos" / "dog" / "broken.jpg").write_bytes(b"nor a jpeg")
    params = tmp_path / "folder.yaml"
    raw = yaml.safe_load((ROOT / "params.yaml").read_text())
    raw["download"].update(dataset="folder", location=str(tmp_path / "photos"))
    params.write_text(yaml.safe_dump(raw))
    run_stage(["stages.download", "--params", str(params), "--raw", str(tmp_path / "raw")], ROOT).check_returncode()
    result = run_stage(
        [
            "stages.preprocess",
            "--params",
            str(params),
            "--raw",
            str(tmp_path / "raw"),
            "--store",
            str(tmp_path / "store"),
            "--reports",
            str(tmp_path / "reports"),
        ],
        ROOT,
    )
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    assert "2 of 2 images could not be used" in result.stderr and "decode_errors.csv" in result.stderr


def test_a_bug_keeps_its_traceback(tmp_path: Path) -> None:
    result = run_stage(
        [
            "stages.compare",
            "--predictions",
            str(tmp_path / "none"),
            "--live",
            "l",
            "--models",
            "m",
            "--out",
            str(tmp_path / "o"),
            "--best",
            str(tmp_path / "b"),
        ],
        ROOT,
    )
    assert result.returncode == 1 and "Traceback" in result.stderr  # a missing predictions file is not a user error
