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
    quoted = re.compile(r"[\"']params\.yaml[\"']")
    for path in (ROOT / "imgstudy").rglob("*.py"):
        if path.name != "params.py":
            assert not quoted.search(path.read_text()), f"{path} names params.yaml"
            assert "import yaml" not in path.read_text(), f"{path} parses YAML; only params.py may"


def test_train_outputs_persist_so_a_killed_run_can_resume() -> None:
    outs = DVC["stages"]["train"]["do"]["outs"]
    persisted = [next(iter(o)) for o in outs if isinstance(o, dict) and next(iter(o.values())).get("persist")]
    assert "${paths.models}/${item}" in persisted and "${paths.live}/${item}" in persisted
