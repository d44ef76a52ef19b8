"""compare: one table of every variant in the grid (and of the segmentation variants), with
confidence intervals and paired tests; the study's headline numbers for `dvc exp show`, the
plots `dvc plots show` leads with, and the best variant's model as the study's output."""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from imgstudy.evaluation.plotdata import write_plots
from imgstudy.evaluation.statistics import bootstrap_ci, mcnemar, seed_groups, seg_report
from imgstudy.evaluation.tables import (
    column_value,
    display_name,
    seeds_markdown,
    seg_markdown,
    table_rows,
    to_csv,
    to_latex,
    to_markdown,
)
from imgstudy.params import MODEL_GROUPS, MODELS, Params, variant_of


@dataclass(frozen=True)
class Files:
    predictions: Path  # every variant's test predictions and robustness summary
    live: Path  # every variant's DVCLive curves
    models: Path  # every variant's model folder
    out: Path  # the comparison: compare.md/.csv/.json, summary.json, plots/
    best: Path  # the best variant's model, the study's output


def read_json(path: Path) -> dict | None:
    return json.loads(path.read_text()) if path.is_file() else None


def reads(group: str | None, dotted: str) -> bool:
    """Whether a model with this options group ("cnn", "transfer", None) reads the setting: train.cnn.*
    only the baseline CNN, train.transfer.* and train.finetune.* only the torchvision backbones."""
    return all(group == needs for prefix, needs in MODEL_GROUPS.items() if dotted.startswith(prefix))


def classification(study: Params, predictions: Path) -> tuple[dict, tuple]:
    """Per variant: its metrics, bootstrap intervals, table cells, robustness and McNemar's test."""
    settings = study.compare
    variants, resolved_all, kept = {}, {}, {}
    for name in study.grid:
        saved = np.load(predictions / f"{name}.npz")
        y, probs = saved["y_true"], saved["probs"]
        params = variant_of(study, name)
        resolved = resolved_all[name] = params.model_dump(mode="json")
        group = MODELS[params.train.model]
        kept[name] = (y, probs, [str(k) for k in saved["classes"]], saved["roc"])
        # a setting the variant's model does not read (the CNN's widths for a backbone) is "-", not its default
        cells = {
            title: column_value(resolved, key) if reads(group, key) else "-" for title, key in settings.columns.items()
        }
        variants[name] = {
            "metrics": json.loads(str(saved["summary"])),
            "ci": bootstrap_ci(y, probs, settings.bootstrap, settings.confidence, study.base.seed),
            "columns": cells,
            "robustness": read_json(predictions / f"{name}.robustness.json"),
            "correct": probs.argmax(1) == y,
        }
    best = max(variants, key=lambda v: variants[v]["metrics"][settings.metric])
    reference = variants[best]["correct"]
    for v in variants.values():
        v["mcnemar"] = mcnemar(reference, v.pop("correct"))
    report = {
        "metric": settings.metric,
        "best": best,
        "confidence": settings.confidence,
        "bootstrap": settings.bootstrap,
        "variants": variants,
        "seed_groups": seed_groups(resolved_all, {n: v["metrics"] for n, v in variants.items()}),
    }
    return report, kept[best]


def headline(report: dict, metrics: list[str], seg: dict | None) -> dict:
    """summary.json, the study's top-level metrics file: the best variant, then a few numbers per variant."""
    best, metric = report["best"], report["metric"]
    out = {"best": display_name(best), metric: report["variants"][best]["metrics"][metric]}
    for name, v in report["variants"].items():
        out[name] = {m: round(v["metrics"][m], 6) for m in metrics}
    if seg is not None:
        out["segmentation"] = {name: {"dice": round(v["dice"]["mean"], 6)} for name, v in seg["variants"].items()}
    return out


def segmentation(study: Params, predictions: Path) -> dict | None:
    if not study.seg_grid:
        return None
    per_image = {}
    for name in study.seg_grid:
        scores = np.load(predictions / f"{name}.seg.npz")
        per_image[name] = {m: scores[m] for m in ("dice", "iou", "hd95")}
    settings = study.compare
    return seg_report(per_image, settings.bootstrap, settings.confidence, study.base.seed)


def run(params: Params, files: Files) -> dict:
    settings = params.compare
    report, best_data = classification(params, files.predictions)
    seg = segmentation(params, files.predictions)
    out = files.out
    out.mkdir(parents=True, exist_ok=True)
    (out / "compare.json").write_text(json.dumps({**report, "segmentation": seg}, indent=2) + "\n")
    header, rows = table_rows(report, settings.columns)
    title = (
        f"Best by {settings.metric}: **{display_name(report['best'])}**. Brackets: {settings.confidence:.0%} "
        f"bootstrap intervals ({settings.bootstrap} resamples of the test set); last column: McNemar exact "
        "p-value against the best.\n\n"
    )
    text = title + to_markdown(header, rows) + seeds_markdown(report["seed_groups"])
    (out / "compare.md").write_text(text + ("\n\n" + seg_markdown(seg) if seg else ""))
    (out / "compare.csv").write_text(to_csv(header, rows))
    (out / "compare.tex").write_text(to_latex(header, rows, title.replace("**", "").strip()))  # for the write-up
    (out / "summary.json").write_text(json.dumps(headline(report, settings.headline, seg), indent=2) + "\n")
    write_plots(out / "plots", report, settings.plot_metrics, files.live, best_data)
    best = report["best"]
    files.best.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(files.models / best / "model.pt", files.best / "model.pt")
    chosen = {
        "variant": best,
        "name": display_name(best),
        settings.metric: report["variants"][best]["metrics"][settings.metric],
    }
    (files.best / "variant.json").write_text(json.dumps(chosen, indent=2) + "\n")
    return {"table": (out / "compare.md").read_text(), "best": best, "best_dir": str(files.best)}


def describe(result: dict) -> str:
    return f"{result['table']}\ncompare: best variant {display_name(result['best'])} -> {result['best_dir']}"
