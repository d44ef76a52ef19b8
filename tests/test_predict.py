"""Using a trained model: predict on files and folders, export, the JSON endpoint under load."""

from __future__ import annotations

import csv
import io
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from conftest import ROOT, cnn_params, project_env, quadrant_images, write_quadrant_store
from imgstudy import params as P
from imgstudy.serving.predict import Predictor, expand_inputs
from stages import split, train


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    """A small CNN trained on the quadrant images (a bright square's quadrant is the class)."""
    root = tmp_path_factory.mktemp("trained")
    write_quadrant_store(root / "store", 480, test=80)
    split.run(root / "store", root / "splits", "official", 0.2, 0.1, seed=0)
    train.run(
        P.resolve(cnn_params(epochs=3, batch_size=32), "F0"), root / "store", root / "splits", root / "m", root / "live"
    )
    return root / "m" / "model.pt"


def photo(cls: int, size: int = 48) -> Image.Image:
    """A larger RGB picture of a class: the decoder must bring it to the model's 16 px gray input."""
    images, labels = quadrant_images(8, seed=5, side=16)
    i = int(np.flatnonzero(labels == cls)[0])
    return Image.fromarray(images[i, ..., 0]).convert("RGB").resize((size, size), Image.Resampling.NEAREST)


def png(image: Image.Image) -> bytes:
    buf = io.BytesIO()
    image.save(buf, "PNG")
    return buf.getvalue()


def test_predict_a_folder_with_a_corrupt_file(trained: Path, tmp_path: Path) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    for c in range(4):
        photo(c).save(folder / f"class{c}.png")
    (folder / "corrupt.png").write_text("not an image at all")
    rows = Predictor.load(trained).predict(expand_inputs([str(folder)]), k=2, cam_dir=tmp_path / "cams")
    by_name = {Path(r["path"]).name: r for r in rows}
    assert by_name["corrupt.png"]["status"] == "error" and "unreadable" in by_name["corrupt.png"]["error"]
    assert [by_name[f"class{c}.png"]["class_1"] for c in range(4)] == ["tl", "tr", "bl", "br"]
    assert all(0.5 < by_name[f"class{c}.png"]["prob_1"] <= 1 for c in range(4))
    assert sorted(p.name for p in (tmp_path / "cams").iterdir()) == [f"class{c}_cam.png" for c in range(4)]


def test_predict_command_writes_csv(trained: Path, tmp_path: Path) -> None:
    photo(1).save(tmp_path / "a.png")
    out = tmp_path / "pred.csv"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "tools.predict",
            str(tmp_path / "*.png"),
            str(tmp_path / "missing.jpg"),
            "--model",
            str(trained),
            "--top-k",
            "2",
            "--out",
            str(out),
        ],
        cwd=ROOT,
        env=project_env(),
        check=True,
        capture_output=True,
    )
    rows = list(csv.DictReader(open(out)))
    assert [(Path(r["path"]).name, r["status"], r["class_1"]) for r in rows] == [
        ("a.png", "ok", "tr"),
        ("missing.jpg", "error", ""),
    ]


def test_exported_models_match_pytorch(trained: Path, tmp_path: Path) -> None:
    import onnxruntime

    from tools.export import export

    paths = export(trained, tmp_path / "exported")
    predictor = Predictor.load(trained)
    images, _ = quadrant_images(12, seed=9, side=16)
    u8 = torch.from_numpy(images)
    with torch.no_grad():
        expected = predictor.model(predictor.card.inputs(u8))
    unit = u8.permute(0, 3, 1, 2).float() / 255  # what the exported graphs take
    scripted = torch.jit.load(str(paths["torchscript"]))(unit)
    assert torch.allclose(scripted, expected, atol=1e-4)
    session = onnxruntime.InferenceSession(str(paths["onnx"]))
    onnx_out = session.run(None, {"image": unit.numpy()})[0]
    assert np.allclose(onnx_out, expected.numpy(), atol=1e-4)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(trained: Path):
    import uvicorn

    from imgstudy.serving.webapp import create_app

    port = free_port()
    app = create_app({"F0": trained, "best": trained}, "best", max_bytes=200_000)
    srv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.time() + 20
    while not srv.started and time.time() < deadline:
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    srv.should_exit = True
    thread.join(10)


def post(url: str, body: bytes, kind: str = "image/png") -> tuple[int, dict]:
    import json

    request = urllib.request.Request(url, data=body, headers={"Content-Type": kind}, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=60) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def test_endpoint_answers_refuses_and_limits(server: str) -> None:
    status, data = post(f"{server}/api/predict?top_k=2", png(photo(2)))
    assert status == 200 and data["top_k"][0]["class"] == "bl" and len(data["top_k"]) == 2
    assert data["cam"].startswith("data:image/png;base64,") and data["variant"] == "best"
    status, data = post(f"{server}/api/predict", b"plain text pretending to be a PNG")
    assert status == 415 and "not a usable image" in data["detail"]
    status, data = post(f"{server}/api/predict", b"\x89PNG" + bytes(300_000))
    assert status == 413 and "limit" in data["detail"]
    status, data = post(f"{server}/api/predict?variant=nope", png(photo(0)))
    assert status == 404 and "nope" in data["detail"]
    status, _ = post(f"{server}/api/predict", png(photo(0)), kind="text/plain")
    assert status == 415


def test_fifty_concurrent_requests(server: str) -> None:
    bodies = [png(photo(i % 4)) for i in range(50)]
    with ThreadPoolExecutor(max_workers=10) as pool:  # a bounded load loop
        results = list(pool.map(lambda b: post(f"{server}/api/predict?variant=F0&top_k=1", b), bodies))
    assert [s for s, _ in results] == [200] * 50
    assert [d["top_k"][0]["class"] for _, d in results] == [["tl", "tr", "bl", "br"][i % 4] for i in range(50)]


CHROMIUM, DRIVER = shutil.which("chromium"), shutil.which("chromedriver")


@pytest.mark.skipif(not (CHROMIUM and DRIVER), reason="Debian chromium and chromium-driver (make test installs them)")
def test_the_page_in_a_real_browser(server: str, tmp_path: Path) -> None:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={tmp_path / 'profile'}",
        "--window-size=1000,700",
    ):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(DRIVER), options=options)
    try:
        driver.get(server)
        wait = WebDriverWait(driver, 30)
        wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#variant option")) == 2)
        photo(3).save(tmp_path / "square.png")
        driver.find_element(By.ID, "file").send_keys(str(tmp_path / "square.png"))
        wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#results tr"))
        assert driver.find_element(By.CSS_SELECTOR, "#results tr td").text == "br"
        wait.until(lambda d: (d.find_element(By.ID, "cam").get_attribute("src") or "").startswith("data:image/png"))
        artifacts = ROOT / "test-artifacts"
        artifacts.mkdir(exist_ok=True)
        driver.save_screenshot(str(artifacts / "web_page.png"))
        assert (artifacts / "web_page.png").stat().st_size > 5000

        (tmp_path / "fake.png").write_text("I am a text file with a .png name")
        driver.find_element(By.ID, "file").send_keys(str(tmp_path / "fake.png"))
        wait.until(lambda d: "415" in d.find_element(By.ID, "error").text)
        assert "not a usable image" in driver.find_element(By.ID, "error").text
        assert not driver.find_elements(By.CSS_SELECTOR, "#results tr")
    finally:
        driver.quit()
