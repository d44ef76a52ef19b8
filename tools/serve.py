"""Serve a page to classify an image with any trained variant, and the same as a JSON endpoint.

    python -m tools.serve                   # http://127.0.0.1:8000
    curl -F file=@photo.jpg 'http://127.0.0.1:8000/api/predict?top_k=3'
    curl --data-binary @photo.jpg -H 'Content-Type: image/jpeg' 'http://127.0.0.1:8000/api/predict'  # raw bytes

The variants are the grid's trained models (models/<variant>/model.pt) and `best`, the
study's output; uploads are limited to --max-mb and never written to disk. The study report
(reports/study.html, from `dvc repro report`) is at /report.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import uvicorn

from imgstudy.core.cli import cli
from imgstudy.core.errors import UserError
from imgstudy.params import load
from imgstudy.serving.webapp import create_app


def trained_models(params_file: str) -> tuple[dict[str, Path], str]:
    study = load(params_file)
    found = {v: Path(study.paths.models) / v / "model.pt" for v in study.grid}
    found["best"] = Path(study.paths.best) / "model.pt"
    found = {name: path for name, path in found.items() if path.is_file()}
    if not found:
        raise UserError("no trained model found: run `dvc repro` first")
    return found, "best" if "best" in found else sorted(found)[0]


@cli
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--max-mb", type=float, default=10.0, help="largest accepted upload")
    args = parser.parse_args()
    models, default = trained_models(args.params)
    report = Path(load(args.params).paths.reports) / "study.html"
    app = create_app(models, default, int(args.max_mb * 1e6), report)
    uvicorn.run(app, host=args.host, port=args.port)


if __name__ == "__main__":
    main()
