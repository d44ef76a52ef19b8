"""Is the change real? Every variant of two runs of the study, paired on the same test images.

    python -m tools.diff                      # HEAD against the workspace
    python -m tools.diff main f4-lr5e-4       # a commit against an experiment (names as dvc exp show)
    python -m tools.diff HEAD~1 HEAD --metric f1_macro --md      # also --json, --latex (booktabs)

A and B are git revisions, experiment names or `workspace`. For each variant both ran, the test
predictions are read through DVC (dvc.api: from the cache, or the remote) and compared: the metric in A
and in B, B - A with a paired bootstrap interval, McNemar's exact p-value on the errors, Holm's adjustment
across the variants, and a verdict at --alpha. A variant trained with several seeds (variants identical
but for base.seed) is one row of seed means. Both runs must have tested the same images: the same data
and split (their dvc.lock hashes) and the same labels, else one line says what differs.
"""

from __future__ import annotations

import argparse
import io
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from imgstudy.core.cli import cli
from imgstudy.core.errors import UserError
from imgstudy.evaluation.paired import holm, paired_difference, seed_mean_difference, verdict
from imgstudy.evaluation.statistics import seed_groups
from imgstudy.evaluation.tables import display_name, to_latex, to_markdown
from imgstudy.params import Params, resolve, variant_of, yaml_text
from imgstudy.params.choices import METRICS

WORKSPACE = "workspace"


@dataclass
class Run:
    name: str  # as given: a revision, an experiment or "workspace"
    params: Params
    lock: dict  # dvc.lock's stages
    predictions: dict[str, dict]  # variant -> {"y_true", "probs"}


def read(path: str, rev: str, mode: str = "r"):
    """A file of the study at `rev` (DVC- or git-tracked), or in the working tree."""
    if rev == WORKSPACE:
        return Path(path).read_bytes() if mode == "rb" else Path(path).read_text()
    import dvc.api

    try:
        return dvc.api.read(path, rev=rev, mode=mode)
    except Exception as e:  # noqa: BLE001 - DVC's errors for a bad revision or a file it cannot fetch
        raise UserError(f"{path} at {rev!r}: {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}") from None


def load_run(rev: str) -> Run:
    params = resolve(yaml_text(read("params.yaml", rev), f"params.yaml at {rev}"))
    lock = yaml_text(read("dvc.lock", rev), f"dvc.lock at {rev}")["stages"]
    predictions = {}
    for variant in params.grid:
        path = f"{params.paths.predictions}/{variant}.npz"
        saved = np.load(io.BytesIO(read(path, rev, "rb")))
        predictions[variant] = {"y_true": saved["y_true"], "probs": saved["probs"]}
    return Run(rev, params, lock, predictions)


def data_hashes(run: Run) -> dict[str, str]:
    """The md5 of the store and of the split indices the run tested on (its dvc.lock)."""
    wanted = {run.params.paths.store, run.params.paths.splits}
    return {
        out["path"]: out["md5"]
        for stage in ("preprocess", "split")
        for out in run.lock.get(stage, {}).get("outs", [])
        if out["path"] in wanted
    }


def same_test_images(a: Run, b: Run) -> None:
    ha, hb = data_hashes(a), data_hashes(b)
    for path in sorted(set(ha) | set(hb)):
        if ha.get(path) != hb.get(path):
            raise UserError(
                f"{a.name} and {b.name} did not test on the same images: {path} differs "
                f"({ha.get(path, 'absent')} against {hb.get(path, 'absent')}); compare runs of one data and split"
            )
    for variant in set(a.predictions) & set(b.predictions):
        if not np.array_equal(a.predictions[variant]["y_true"], b.predictions[variant]["y_true"]):
            raise UserError(f"{a.name} and {b.name} did not test {variant} on the same labels")


def units(run: Run) -> dict[str, list[str]]:
    """What a row compares: a seed group (its variants) or a variant alone."""
    resolved = {v: variant_of(run.params, v).model_dump(mode="json") for v in run.params.grid}
    groups = seed_groups(resolved, {v: {} for v in resolved})
    grouped = {v for g in groups.values() for v in g["variants"]}
    return {**{name: g["variants"] for name, g in groups.items()}, **{v: [v] for v in resolved if v not in grouped}}


def compare(a: Run, b: Run, metric: str, resamples: int, confidence: float, alpha: float, seed: int) -> list[dict]:
    same_test_images(a, b)
    units_a, units_b = units(a), units(b)
    rows = []
    for name in [u for u in units_a if u in units_b]:
        runs_a = [a.predictions[v]["probs"] for v in units_a[name]]
        runs_b = [b.predictions[v]["probs"] for v in units_b[name]]
        y = a.predictions[units_a[name][0]]["y_true"]
        if len(runs_a) == len(runs_b) == 1:
            row = paired_difference(y, runs_a[0], runs_b[0], metric, resamples, confidence, seed)
        else:
            row = seed_mean_difference(y, runs_a, runs_b, metric, resamples, confidence, seed)
        rows.append({"variant": name, **row})
    for row, adjusted in zip(rows, holm([r["p_value"] for r in rows])):
        row["p_adjusted"] = adjusted
        row["verdict"] = verdict(row, alpha)
    return rows


def table(rows: list[dict], a: str, b: str, metric: str) -> tuple[list[str], list[list[str]]]:
    header = ["variant", "seeds", f"{metric} {a}", f"{metric} {b}", "B - A [95% CI]", "p", "p (Holm)", "verdict"]
    body = [
        [
            display_name(r["variant"]),
            "{} / {}".format(*r["seeds"]),
            f"{r['a']:.4f}",
            f"{r['b']:.4f}",
            f"{r['difference']:+.4f} [{r['interval'][0]:+.4f}, {r['interval'][1]:+.4f}]",
            f"{r['p_value']:.3g}",
            f"{r['p_adjusted']:.3g}",
            r["verdict"],
        ]
        for r in rows
    ]
    return header, body


def plain(header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(str(c)) for c in column) for column in zip(header, *rows)]
    return "\n".join("  ".join(str(c).ljust(w) for c, w in zip(line, widths)).rstrip() for line in [header, *rows])


@cli
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("a", nargs="?", default="HEAD", help="a git revision, an experiment name or 'workspace'")
    parser.add_argument("b", nargs="?", default=WORKSPACE)
    parser.add_argument("--metric", default="accuracy", choices=METRICS)
    parser.add_argument("--resamples", type=int, default=1000)
    parser.add_argument("--alpha", type=float, default=0.05)
    out = parser.add_mutually_exclusive_group()
    for fmt in ("md", "json", "latex"):
        out.add_argument(f"--{fmt}", action="store_true")
    args = parser.parse_args()
    a, b = load_run(args.a), load_run(args.b)
    rows = compare(a, b, args.metric, args.resamples, 0.95, args.alpha, a.params.base.seed)
    header, body = table(rows, args.a, args.b, args.metric)
    images = len(next(iter(a.predictions.values()))["y_true"])
    note = (
        f"B - A: paired bootstrap ({args.resamples} resamples of the {images} test images); p: McNemar's exact "
        f"test (seed groups: the bootstrap over seeds and images); Holm across the {len(rows)} rows; verdict at "
        f"alpha {args.alpha}."
    )
    if args.json:
        print(json.dumps({"a": args.a, "b": args.b, "metric": args.metric, "rows": rows}, indent=2))
    elif args.latex:
        print(to_latex(header, body, f"{args.a} against {args.b}. {note}"))
    elif args.md:
        print(to_markdown(header, body) + "\n" + note)
    else:
        print(plain(header, body) + "\n\n" + note)


if __name__ == "__main__":
    main()
