"""A train stage killed mid-run resumes from its last epoch and ends with the same weights."""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path

import pytest
import torch
import yaml

from conftest import ROOT, cnn_params, project_env, train_cmd, write_quadrant_store
from stages import split


def weights(path: Path) -> dict:
    blob = torch.load(path, weights_only=True)
    return blob.get("state_dict") or blob["model"]


@pytest.mark.heavy
def test_killed_training_resumes_to_the_same_weights(tmp_path: Path) -> None:
    write_quadrant_store(tmp_path / "store", 2400, test=200)
    split.run(tmp_path / "store", tmp_path / "splits", "official", 0.1, 0.1, seed=0)
    raw = cnn_params(epochs=3, batch_size=16)
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(raw))
    env = project_env()

    subprocess.run(train_cmd(tmp_path, "straight"), cwd=ROOT, env=env, check=True, capture_output=True)

    proc = subprocess.Popen(
        train_cmd(tmp_path, "killed"), cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
    )
    state = tmp_path / "killed/state.pt"
    deadline = time.time() + 120
    while not state.exists() and time.time() < deadline:
        time.sleep(0.05)
    time.sleep(0.3)  # into epoch 2
    proc.send_signal(signal.SIGKILL)
    first = proc.communicate()[0]
    assert "epoch 1 " in first and "epoch 3 " not in first, first  # killed after epoch 1, before the end

    second = subprocess.run(
        train_cmd(tmp_path, "killed"), cwd=ROOT, env=env, check=True, capture_output=True, text=True
    ).stdout
    assert "resuming" in second and "epoch 1 " not in second and "epoch 3 " in second, second
    for name in ("state.pt", "model.pt"):
        a, b = weights(tmp_path / "straight" / name), weights(tmp_path / "killed" / name)
        assert all(torch.equal(a[k], b[k]) for k in a), name
    # DVCLive kept one row per epoch across the two runs.
    rows = (tmp_path / "live_killed/plots/metrics/val/loss.tsv").read_text().splitlines()
    assert len(rows) == 1 + 3
    assert rows == (tmp_path / "live_straight/plots/metrics/val/loss.tsv").read_text().splitlines()


@pytest.mark.heavy
def test_changed_params_start_over(tmp_path: Path) -> None:
    write_quadrant_store(tmp_path / "store", 240, test=40)
    split.run(tmp_path / "store", tmp_path / "splits", "official", 0.2, 0.1, seed=0)
    raw = cnn_params(epochs=1, batch_size=32)
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(raw))
    env = project_env()
    subprocess.run(train_cmd(tmp_path, "m"), cwd=ROOT, env=env, check=True, capture_output=True)
    raw["train"]["lr"] = 0.001
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(raw))
    out = subprocess.run(train_cmd(tmp_path, "m"), cwd=ROOT, env=env, check=True, capture_output=True, text=True).stdout
    assert "resuming" not in out and "epoch 1 " in out
