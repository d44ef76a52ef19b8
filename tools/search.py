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

from imgstudy import params as P
from stages import cli, train

OUT = Path("search")


def suggest(trial: optuna.Trial, key: str, dim: P.SearchDim):
    if dim.choices is not None:
        return trial.suggest_categorical(key, dim.choices)
    if dim.integer:
        return trial.suggest_int(key, int(dim.low), int(dim.high), log=dim.log)
    return trial.suggest_float(key, dim.low, dim.high, log=dim.log)


def with_values(raw: dict, variant: str, values: dict) -> P.Params:
    """The variant's params with the trial's values set under variants.<variant>."""
    raw = json.loads(json.dumps(raw))  # deep copy
    override = raw["variants"].setdefault(variant, {})
    for dotted, value in values.items():
        *parents, leaf = dotted.split(".")
        node = override
        for key in parents:
            node = node.setdefault(key, {})
        node[leaf] = value
    return P.resolve(raw, variant, source="search trial")


def run(raw: dict, store: Path, splits: Path, out: Path) -> optuna.Study:
    s = P.check_search_space(raw).search
    out.mkdir(parents=True, exist_ok=True)
    sampler = (
        optuna.samplers.TPESampler(seed=raw["base"]["seed"])
        if s.sampler == "tpe"
        else optuna.samplers.RandomSampler(seed=raw["base"]["seed"])
    )
    study = optuna.create_study(
        study_name="search",
        storage=f"sqlite:///{out / 'study.db'}",
        load_if_exists=True,
        direction="maximize" if s.metric == "val_acc" else "minimize",
        sampler=sampler,
    )

    def objective(trial: optuna.Trial) -> float:
        values = {key: suggest(trial, key, dim) for key, dim in s.space.items()}
        p = with_values(raw, s.variant, values)
        with tempfile.TemporaryDirectory() as tmp:
            history = train.run(p, store, splits, Path(tmp) / "model", Path(tmp) / "live")
            cv = Path(tmp) / "model" / "cv.json"
            if cv.is_file():  # split wrote k folds: the mean over the held-out folds, not one val split
                return json.loads(cv.read_text())[f"{s.metric}_mean"]
        scores = [r.metrics[s.metric] for r in history]
        return max(scores) if s.metric == "val_acc" else min(scores)

    done = len([t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE])
    study.optimize(objective, n_trials=max(0, s.trials - done))
    best = study.best_trial
    sets = [f"variants.{s.variant}.{key}={value}" for key, value in best.params.items()]
    (out / "best.yaml").write_text(
        yaml.safe_dump(
            {
                "variant": s.variant,
                "metric": s.metric,
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
    raw = P.read_yaml(args.params)
    paths = P.resolve(raw).paths
    study = run(raw, Path(paths.store), Path(paths.splits), args.out)
    print((args.out / "best.yaml").read_text())
    print(f"{len(study.trials)} trials in {args.out / 'study.db'}")


if __name__ == "__main__":
    main()
