"""Data-parallel training with torchrun (2 processes, gloo on CPU) and MLflow tracking."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml

from conftest import ROOT, cnn_params, project_env, split_store, train_cmd, write_quadrant_store

pytestmark = pytest.mark.heavy  # torchrun and MLflow processes (conftest runs these tests first)


def params_file(tmp: Path, **base) -> Path:
    """A model without BatchNorm or dropout and no augmentation: data-parallel SGD must then
    follow the single-process run step for step (up to float summation order)."""
    raw = cnn_params(model="cnn", epochs=2, batch_size=32, optimizer="sgd", lr=0.05, scheduler="none")
    raw["train"]["cnn"].update(widths=[8, 16], batchnorm=False, dropout=0.0, dense=[16])
    raw["base"].update(**base)
    path = tmp / f"params_{base.get('processes', 1)}.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def train(tmp: Path, params: Path, out: str) -> str:
    result = subprocess.run(
        train_cmd(tmp, out, params),
        cwd=ROOT,
        env=project_env(),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("ddp")
    write_quadrant_store(tmp / "store", 320, test=40)
    split_store(tmp, "official", 0.2, 0.1, seed=0)
    return tmp


def test_two_processes_match_one_and_only_rank_0_writes(data: Path) -> None:
    single = train(data, params_file(data, processes=1, threads=2), "single")
    double = train(data, params_file(data, processes=2, threads=1), "double")
    assert "x1" in single and "x2" in double
    # one writer: every epoch line printed once, one summary, the same files as a single process
    assert [line.split(" (")[0] for line in double.splitlines() if line.startswith("epoch")] == ["epoch 1", "epoch 2"]
    assert sorted(p.name for p in (data / "double").iterdir()) == sorted(p.name for p in (data / "single").iterdir())
    assert json.loads((data / "double/summary.json").read_text())["processes"] == 2
    a = torch.load(data / "single/model.pt", weights_only=True)["state_dict"]
    b = torch.load(data / "double/model.pt", weights_only=True)["state_dict"]
    assert all(torch.allclose(a[k], b[k], atol=1e-4) for k in a), max((a[k] - b[k]).abs().max().item() for k in a)
    losses = [
        float(r.split()[-1]) for r in (data / "live_single/plots/metrics/train/loss.tsv").read_text().splitlines()[1:]
    ]
    assert len(losses) == 2 and losses[-1] < losses[0]  # it did learn: the match is not trivial


def test_two_nodes_of_one_process_match_one_node(data: Path) -> None:
    """The two-node command of docs/teams.md, both nodes on 127.0.0.1: torchrun --nnodes 2 with a c10d
    rendezvous, one process per node, gloo. The model equals one process's within the same tolerance as
    two processes on one node (1e-4: data-parallel SGD sums the gradients in another order)."""
    single = data / "single/model.pt"
    if not single.is_file():
        train(data, params_file(data, processes=1, threads=2), "single")
    port = free_port()
    params = params_file(data, processes=1, threads=1)  # processes 1: torchrun, not the stage, spawns them
    stage = train_cmd(data, "nodes", params)[3:]  # the stage's arguments after `python -m stages.train`
    launches = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "torch.distributed.run",
                "--nnodes",
                "2",
                "--node-rank",
                str(rank),
                "--nproc-per-node",
                "1",
                "--rdzv-backend",
                "c10d",
                "--rdzv-endpoint",
                f"127.0.0.1:{port}",
                "--rdzv-id",
                "study",
                "-m",
                "stages.train",
                *stage,
            ],
            cwd=ROOT,
            env=project_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )  # fmt: skip
        for rank in (0, 1)
    ]
    outputs = [launch.communicate(timeout=600)[0] for launch in launches]
    assert all(launch.returncode == 0 for launch in launches), outputs
    assert "x2" in outputs[0] + outputs[1]
    a = torch.load(single, weights_only=True)["state_dict"]
    b = torch.load(data / "nodes/model.pt", weights_only=True)["state_dict"]
    assert all(torch.allclose(a[k], b[k], atol=1e-4) for k in a), max((a[k] - b[k]).abs().max().item() for k in a)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_mlflow_run_has_params_metrics_and_model(data: Path) -> None:
    raw = yaml.safe_load(params_file(data, processes=1).read_text())
    raw["tracking"].update(mlflow=True, uri=f"sqlite:///{data / 'mlflow.db'}", experiment="ddp-test")
    (data / "mlflow.yaml").write_text(yaml.safe_dump(raw))
    import mlflow

    client = mlflow.tracking.MlflowClient(tracking_uri=f"sqlite:///{data / 'mlflow.db'}")
    # artifacts next to the store, not in ./mlruns of the working directory (the project)
    client.create_experiment("ddp-test", artifact_location=(data / "artifacts").as_uri())
    train(data, data / "mlflow.yaml", "tracked")

    experiment = client.get_experiment_by_name("ddp-test")
    (run,) = client.search_runs([experiment.experiment_id])
    assert run.data.params["train.lr"] == "0.05" and run.data.params["train.model"] == "cnn"
    history = client.get_metric_history(run.info.run_id, "val_acc")
    assert [m.step for m in history] == [0, 1] and all(0 <= m.value <= 1 for m in history)
    assert {a.path for a in client.list_artifacts(run.info.run_id)} == {"model.pt", "summary.json"}
