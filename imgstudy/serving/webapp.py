"""A small web app around Predictor: an HTML page and a JSON endpoint.

POST /api/predict takes the image as the request body (any image Content-Type), or as the field
`file` of a multipart/form-data upload (what `curl -F file=@x.jpg`, `requests.post(url, files=...)`
and an HTML form send). Nothing is ever written to disk: the upload is read into memory, capped at
`max_bytes` (413 beyond), decoded or refused (415), classified, and answered as JSON with the top-k
classes and the Grad-CAM overlay as a PNG data URL.
"""

from __future__ import annotations

import base64
import io
import threading
from pathlib import Path

from fastapi import FastAPI, HTTPException, Query, Request
from fastapi.responses import FileResponse
from PIL import Image
from python_multipart import MultipartParser
from python_multipart.multipart import parse_options_header

from imgstudy.serving.predict import Predictor

PAGE = Path(__file__).parent / "web" / "index.html"


class Models:
    """Variant name -> Predictor, loaded on first use; one lock per model (Grad-CAM hooks are not thread-safe)."""

    def __init__(self, paths: dict[str, Path], default: str):
        self.paths, self.default = paths, default
        self._loaded: dict[str, tuple[Predictor, threading.Lock]] = {}
        self._guard = threading.Lock()

    def get(self, name: str | None) -> tuple[str, Predictor, threading.Lock]:
        name = name or self.default
        if name not in self.paths:
            raise HTTPException(404, f"unknown variant {name!r}; choose one of {sorted(self.paths)}")
        with self._guard:
            if name not in self._loaded:
                self._loaded[name] = (Predictor.load(self.paths[name]), threading.Lock())
        return (name, *self._loaded[name])


def png_data_url(array) -> str:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, "PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


async def read_capped(request: Request, max_bytes: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and int(declared) > max_bytes:
        raise HTTPException(413, f"upload of {int(declared):,} bytes exceeds the {max_bytes:,}-byte limit")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > max_bytes:
            raise HTTPException(413, f"upload exceeds the {max_bytes:,}-byte limit")
    return bytes(body)


FIELD = "file"  # the multipart field that carries the image


def form_file(body: bytes, content_type: str) -> bytes:
    """The bytes of the `file` field of a multipart/form-data body (python-multipart's parser, in memory)."""
    _, options = parse_options_header(content_type)
    if b"boundary" not in options:
        raise HTTPException(415, "multipart/form-data without a boundary")
    parts: list[dict] = []
    header: list[bytes] = []

    def on_part_begin() -> None:
        parts.append({"headers": b"", "data": bytearray()})

    def on_header_field(data: bytes, start: int, end: int) -> None:
        header.append(data[start:end])

    def on_header_value(data: bytes, start: int, end: int) -> None:
        parts[-1]["headers"] += b"".join(header).lower() + b":" + data[start:end] + b"\n"
        header.clear()

    def on_part_data(data: bytes, start: int, end: int) -> None:
        parts[-1]["data"] += data[start:end]

    callbacks = {
        "on_part_begin": on_part_begin,
        "on_header_field": on_header_field,
        "on_header_value": on_header_value,
        "on_part_data": on_part_data,
    }
    parser = MultipartParser(options[b"boundary"], callbacks)
    parser.write(body)
    parser.finalize()
    for part in parts:
        disposition = next(
            (line for line in part["headers"].split(b"\n") if line.startswith(b"content-disposition:")), b""
        )
        if parse_options_header(disposition.split(b":", 1)[-1])[1].get(b"name") == FIELD.encode():
            return bytes(part["data"])
    raise HTTPException(415, f"no field named {FIELD!r} in the form: send the image as {FIELD}=@<path>")


def create_app(
    paths: dict[str, Path], default: str, max_bytes: int = 10_000_000, report: Path | None = None
) -> FastAPI:
    """paths: variant name -> model file; report: the study report (reports/study.html), shown at /report."""
    app = FastAPI(title="imgstudy", docs_url=None, redoc_url=None)
    models = Models(paths, default)

    @app.get("/")
    def page() -> FileResponse:
        return FileResponse(PAGE, media_type="text/html")

    @app.get("/api/variants")
    def variants() -> dict:
        return {"variants": sorted(paths), "default": default, "report": report is not None and report.is_file()}

    @app.get("/report")
    def study_report() -> FileResponse:
        if report is None or not report.is_file():
            raise HTTPException(404, "no study report: run `dvc repro report`")
        return FileResponse(report, media_type="text/html")

    @app.post("/api/predict")
    async def predict(
        request: Request, variant: str | None = Query(None), top_k: int = Query(3, ge=1, le=20), cam: bool = Query(True)
    ) -> dict:
        kind = request.headers.get("content-type", "")
        form = kind.startswith("multipart/form-data")
        if not (form or kind.startswith("image/") or kind == "application/octet-stream"):
            raise HTTPException(
                415, f"send the image as form field {FIELD!r} or as bytes with an image/* type, not {kind or 'none'}"
            )
        body = await read_capped(request, max_bytes)
        if form:
            body = form_file(body, kind)
        name, predictor, lock = models.get(variant)
        try:
            image = predictor.decode(body)
        except ValueError as e:
            raise HTTPException(415, f"not a usable image: {e}") from None
        with lock:
            top = predictor.top_k(image, top_k)
            overlay = png_data_url(predictor.cam(image, predictor.card.classes.index(top[0][0]))) if cam else None
        return {"variant": name, "top_k": [{"class": c, "probability": p} for c, p in top], "cam": overlay}

    return app
