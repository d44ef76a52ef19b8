"""Hyperparameter search (Optuna): random or Bayesian (TPE) over params.yaml `search.space`.

    python -m tools.search            # after `dvc repro split` (or a full `dvc repro`)

Each trial trains the `search.variant` with the trial's values on the train split and is
scored on the validation split (never the test split), or by the mean of its k-fold
cross-validation when split.folds is set. The study is saved in
search/study.db, so a rerun (or a larger `search.trials`) continues it. The best trial
is written to search/best.yaml with the `dvc exp run -S ...` command that reproduces it
inside the pipeline. Searching is exploration, not a pipeline stage: its result comes
back into the pipeline through that experiment.
"""

from __future__ import annotations

import argparse
import json
import shlex
import tempfile
from pathlib import Path

import optuna
import yaml

from imgstudy.core.cli import cli
from imgstudy.params import Params, SearchDim, check_search_space, read_yaml, resolve
from imgstudy.pipeline import train

OUT = Path("search")


def suggest(trial: optuna.Trial, key: str, dim: SearchDim):
    if dim.choices is not None:
        return trial.suggest_categorical(key, dim.choices)
    if dim.integer:
        return trial.suggest_int(key, int(dim.low), int(dim.high), log=dim.log)
    return trial.suggest_float(key, dim.low, dim.high, log=dim.log)


def with_values(raw: dict, variant: str, values: dict) -> Params:
    """The variant's params with the trial's values set under variants.<variant>."""
    raw = json.loads(json.dumps(raw))  # deep copy
    override = raw["variants"].setdefault(variant, {})
    for dotted, value in values.items():
        *parents, leaf = dotted.split(".")
        node = override
        for key in parents:
            node = node.setdefault(key, {})
        node[leaf] = value
    return resolve(raw, variant, source="search trial")


def run(raw: dict, store: Path, splits: Path, out: Path) -> optuna.Study:
    space = check_search_space(raw).search
    out.mkdir(parents=True, exist_ok=True)
    sampler = (
        optuna.samplers.TPESampler(seed=raw["base"]["seed"])
        if space.sampler == "tpe"
        else optuna.samplers.RandomSampler(seed=raw["base"]["seed"])
    )
    study = optuna.create_study(
        study_name="search",
        storage=f"sqlite:///{out / 'study.db'}",
        load_if_exists=True,
        direction="maximize" if space.metric == "val_acc" else "minimize",
        sampler=sampler,
    )

    def objective(trial: optuna.Trial) -> float:
        values = {key: suggest(trial, key, dim) for key, dim in space.space.items()}
        params = with_values(raw, space.variant, values)
        with tempfile.TemporaryDirectory() as tmp:
            files = train.Files(
                space.variant, store, splits, Path(tmp) / "model", Path(tmp) / "live", Path(tmp) / "times"
            )
            history = train.run(params, files)["history"]
            cv = Path(tmp) / "model" / "cv.json"
            if cv.is_file():  # split wrote k folds: the mean over the held-out folds, not one val split
                return json.loads(cv.read_text())[f"{space.metric}_mean"]
        scores = [epoch[space.metric] for epoch in history]
        return max(scores) if space.metric == "val_acc" else min(scores)

    done = len([t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE])
    study.optimize(objective, n_trials=max(0, space.trials - done))
    best = study.best_trial
    sets = [f"variants.{space.variant}.{key}={value}" for key, value in best.params.items()]
    (out / "best.yaml").write_text(
        yaml.safe_dump(
            {
                "variant": space.variant,
                "metric": space.metric,
                "value": best.value,
                "trial": best.number,
                "params": best.params,
                "command": "dvc exp run " + " ".join(f"-S {shlex.quote(x)}" for x in sets),
            },
            sort_keys=False,
        )
    )
    return study


@cli
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    raw = read_yaml(args.params)
    paths = resolve(raw).paths
    study = run(raw, Path(paths.store), Path(paths.splits), args.out)
    print((args.out / "best.yaml").read_text())
    print(f"{len(study.trials)} trials in {args.out / 'study.db'}")


if __name__ == "__main__":
    main()
