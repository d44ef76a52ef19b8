"""A train stage killed mid-run resumes from its last epoch and ends with the same weights; its state
lives outside the stage's outputs (DVC removes those before it runs a stage again) and is gone once
the model is written."""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path

import pytest
import torch
import yaml

from conftest import ROOT, cnn_params, project_env, split_store, train_cmd, write_quadrant_store


def weights(path: Path) -> dict:
    blob = torch.load(path, weights_only=True)
    return blob.get("state_dict") or blob["model"]


@pytest.mark.heavy
def test_killed_training_resumes_to_the_same_weights(tmp_path: Path) -> None:
    write_quadrant_store(tmp_path / "store", 2400, test=200)
    split_store(tmp_path, "official", 0.1, 0.1, seed=0)
    raw = cnn_params(epochs=3, batch_size=16)
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(raw))
    env = {**project_env(), "IMGSTUDY_RESUME": str(tmp_path / "resume")}

    subprocess.run(train_cmd(tmp_path, "straight"), cwd=ROOT, env=env, check=True, capture_output=True)

    proc = subprocess.Popen(
        train_cmd(tmp_path, "killed"), cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
    )
    deadline = time.time() + 120
    while not list((tmp_path / "resume").glob("F0-*/state.pt")) and time.time() < deadline:
        time.sleep(0.05)
    time.sleep(0.3)  # into epoch 2
    proc.send_signal(signal.SIGKILL)
    first = proc.communicate()[0]
    assert "epoch 1 " in first and "epoch 3 " not in first, first  # killed after epoch 1, before the end

    second = subprocess.run(
        train_cmd(tmp_path, "killed"), cwd=ROOT, env=env, check=True, capture_output=True, text=True
    ).stdout
    assert "resuming after epoch 1" in second and "epoch 1 " not in second and "epoch 3 " in second, second
    a, b = weights(tmp_path / "straight/model.pt"), weights(tmp_path / "killed/model.pt")
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert (tmp_path / "straight/model.pt").read_bytes() == (tmp_path / "killed/model.pt").read_bytes()
    assert not list((tmp_path / "resume").iterdir())  # the working state is removed with the model written
    assert not (tmp_path / "killed/state.pt").exists()  # and never was an output
    # DVCLive kept one row per epoch across the two runs.
    rows = (tmp_path / "live_killed/plots/metrics/val/loss.tsv").read_text().splitlines()
    assert len(rows) == 1 + 3
    assert rows == (tmp_path / "live_straight/plots/metrics/val/loss.tsv").read_text().splitlines()


@pytest.mark.heavy
def test_changed_params_start_over(tmp_path: Path) -> None:
    write_quadrant_store(tmp_path / "store", 240, test=40)
    split_store(tmp_path, "official", 0.2, 0.1, seed=0)
    raw = cnn_params(epochs=1, batch_size=32)
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(raw))
    env = project_env()
    subprocess.run(train_cmd(tmp_path, "m"), cwd=ROOT, env=env, check=True, capture_output=True)
    raw["train"]["lr"] = 0.001
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(raw))
    out = subprocess.run(train_cmd(tmp_path, "m"), cwd=ROOT, env=env, check=True, capture_output=True, text=True).stdout
    assert "resuming" not in out and "epoch 1 " in out
