"""Experiment logging: DVCLive always (the DVC plots), MLflow when a team uses it.

Only rank 0 of a distributed run creates a Tracker; the others log nothing.
"""

from __future__ import annotations

from pathlib import Path

from dvclive import Live
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
        self.live = Live(dir=str(live_dir), resume=False, dvcyaml=None, save_dvc_exp=False)
        self.mlflow = None
        if mlflow_uri:
            import mlflow

            mlflow.set_tracking_uri(mlflow_uri)
            mlflow.set_experiment(experiment)
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
