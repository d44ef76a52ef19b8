"""dvc.yaml and params.yaml agree: every interpolated key, code dependency and stage module exists."""

from __future__ import annotations

import re

import yaml

from conftest import ROOT

DVC = yaml.safe_load((ROOT / "dvc.yaml").read_text())
PARAMS = yaml.safe_load((ROOT / "params.yaml").read_text())


def stage_bodies():
    for name, stage in DVC["stages"].items():
        yield name, stage.get("do", stage)


def test_every_interpolated_key_is_in_params() -> None:
    text = (ROOT / "dvc.yaml").read_text()
    for key in set(re.findall(r"\$\{([\w.]+)\}", text)) - {"item"}:
        node = PARAMS
        for part in key.split("."):
            assert part in node, f"dvc.yaml uses ${{{key}}}, missing from params.yaml"
            node = node[part]


def test_every_code_dependency_exists_and_each_stage_has_its_module() -> None:
    for name, stage in stage_bodies():
        assert (ROOT / "stages" / f"{name}.py").is_file(), f"stage {name} has no stages/{name}.py"
        assert f"stages.{name} " in stage["cmd"], f"stage {name} runs another module: {stage['cmd']}"
        for dep in stage.get("deps", []):
            if "${" not in dep:
                assert (ROOT / dep).exists(), f"stage {name} depends on missing {dep}"


def test_declared_param_sections_exist() -> None:
    for name, stage in stage_bodies():
        for key in stage.get("params", []):
            top = key.split(".")[0]
            assert top in PARAMS, f"stage {name} declares params {key!r}, not in params.yaml"


def test_the_library_never_reads_params_yaml() -> None:
    # the project's params.yaml named anywhere but the command line's default; a model folder's own
    # copy of its params (`out / "params.yaml"`) is not the project's
    quoted = re.compile(r"(?<!/ )[\"']params\.yaml[\"']")
    for path in (ROOT / "imgstudy").rglob("*.py"):
        if path.parent.name != "params" and path.name != "cli.py":
            assert not quoted.search(path.read_text()), f"{path} names params.yaml"
            assert "import yaml" not in path.read_text(), f"{path} parses YAML; only imgstudy/params/ may"


def test_no_output_persists_and_every_per_variant_output_is_cached() -> None:
    """DVC's run cache takes a stage only when no output is persist and every output is cached (or a
    metric or plot): then `dvc push --run-cache` carries trained variants to another machine. A killed
    train resumes from a state outside its outputs instead (imgstudy/training/resume.py)."""
    for name, stage in stage_bodies():
        for out in stage.get("outs", []):
            options = next(iter(out.values())) if isinstance(out, dict) else {}
            assert not options.get("persist"), (name, out)
            if "foreach" in DVC["stages"][name] or name in ("download", "preprocess", "split"):
                assert options.get("cache", True), (name, out)
