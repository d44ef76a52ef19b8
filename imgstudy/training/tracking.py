"""Experiment logging: DVCLive always (the DVC plots), MLflow when a team uses it.

Only rank 0 of a distributed run creates a Tracker; the others log nothing.
"""

from __future__ import annotations

import os
from pathlib import Path

from imgstudy.training.fitting import EpochResult


def live_name(metric: str) -> str:
    """train_loss -> train/loss, val_pixel_accuracy -> val/pixel_accuracy: DVCLive's plot folders."""
    split, _, name = metric.partition("_")
    return f"{split}/{name}"


def flatten(d: dict, prefix: str = "") -> dict[str, str]:
    out = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        out.update(flatten(v, key + ".") if isinstance(v, dict) else {key: str(v)})
    return out


class Tracker:
    def __init__(self, live_dir: Path, params: dict, mlflow_uri: str | None, experiment: str, run_name: str):
        # A fresh log: a resumed run replays the epochs its state holds (DVC removed the folder before
        # the stage ran again, as it does with every output that is not persist).
        from dvclive import Live  # on use: evaluate imports this module for MLflow alone

        self.live = Live(dir=str(live_dir), resume=False, dvcyaml=None, save_dvc_exp=False)
        self.mlflow = None
        if mlflow_uri:
            mlflow = start_mlflow(mlflow_uri, experiment)
            mlflow.start_run(run_name=run_name)
            mlflow.log_params(flatten(params))
            self.mlflow = mlflow

    def epoch(self, r: EpochResult) -> None:
        self.log({**{live_name(k): v for k, v in r.metrics.items()}, "lr": r.lr}, r.epoch)

    def log(self, values: dict[str, float], step: int) -> None:
        """One epoch's figures ("train/loss", "val/dice", ...), then the next DVCLive step."""
        for name, value in values.items():
            self.live.log_metric(name, value)
        if self.mlflow is not None:
            self.mlflow.log_metrics({k.replace("/", "_"): v for k, v in values.items()}, step=step)
        self.live.next_step()

    def finish(self, artifacts: list[Path]) -> None:
        self.live.end()
        if self.mlflow is not None:
            for path in artifacts:
                if path.is_file():
                    self.mlflow.log_artifact(str(path))
            self.mlflow.end_run()


def start_mlflow(uri: str, experiment: str):
    """MLflow at `uri` with `experiment` current (created on first use); no usage reports sent."""
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    import mlflow

    mlflow.set_tracking_uri(uri)
    mlflow.set_experiment(experiment)
    return mlflow


def log_evaluation(uri: str, experiment: str, variant: str, metrics: dict, report: dict, model_file: Path) -> str:
    """An MLflow run of a variant's test scores: the metrics, the classification report and the model,
    registered as a new version of model `<experiment>-<variant>`. Returns the version."""
    mlflow = start_mlflow(uri, experiment)
    client = mlflow.tracking.MlflowClient()
    name = f"{experiment}-{variant}"
    with mlflow.start_run(run_name=f"{variant} (test)") as run:
        mlflow.log_metrics({f"test_{k}": float(v) for k, v in metrics.items() if isinstance(v, (int, float))})
        mlflow.log_dict(report, "classification_report.json")
        mlflow.log_artifact(str(model_file), artifact_path="model")
        if not client.search_registered_models(filter_string=f"name = '{name}'"):
            client.create_registered_model(name, description=f"the {variant} variant of the study {experiment}")
        version = client.create_model_version(name, source=f"{run.info.artifact_uri}/model", run_id=run.info.run_id)
    return version.version
