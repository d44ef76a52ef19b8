"""Using a trained model: predict on files and folders, export, the JSON endpoint under load."""

from __future__ import annotations

import csv
import io
import json
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

from conftest import (
    ROOT,
    browser,
    cnn_params,
    project_env,
    quadrant_images,
    split_store,
    train_variant,
    write_quadrant_store,
)
from imgstudy.params import read_yaml, resolve
from imgstudy.serving.predict import Predictor, expand_inputs


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    """A small CNN trained on the quadrant images (a bright square's quadrant is the class)."""
    root = tmp_path_factory.mktemp("trained")
    write_quadrant_store(root / "store", 480, test=80)
    split_store(root, "official", 0.2, 0.1, seed=0)
    train_variant(resolve(cnn_params(epochs=3, batch_size=32), "F0"), root, "m")
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
    assert srv.started, "the test server did not start listening within 20 s"
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


def test_uploads_as_a_form_field_from_requests_and_curl(server: str, tmp_path: Path) -> None:
    """multipart/form-data, as every common client sends a file, with the limits of raw uploads."""
    import requests

    answer = requests.post(f"{server}/api/predict?top_k=1", files={"file": ("x.png", png(photo(3)), "image/png")})
    assert answer.status_code == 200 and answer.json()["top_k"][0]["class"] == "br"
    photo_file = tmp_path / "photo.png"
    photo_file.write_bytes(png(photo(1)))
    curl = subprocess.run(
        ["curl", "-s", "-F", f"file=@{photo_file}", f"{server}/api/predict?top_k=1&cam=false"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert json.loads(curl.stdout)["top_k"][0]["class"] == "tr"
    wrong = requests.post(f"{server}/api/predict", files={"image": ("x.png", png(photo(3)), "image/png")})
    assert wrong.status_code == 415 and "no field named 'file'" in wrong.json()["detail"]
    big = requests.post(f"{server}/api/predict", files={"file": ("x.png", b"\x89PNG" + bytes(300_000))})
    assert big.status_code == 413
    text = requests.post(f"{server}/api/predict", files={"file": ("x.txt", b"not an image")})
    assert text.status_code == 415 and "not a usable image" in text.json()["detail"]
    bomb = requests.post(f"{server}/api/predict", files={"file": ("bomb.png", bomb_png())})
    assert bomb.status_code == 415, bomb.text


def bomb_png() -> bytes:
    """A small PNG that claims far more pixels than PIL's decompression-bomb limit allows."""
    return png(Image.new("L", (13_000, 13_000)))


def test_fifty_concurrent_requests(server: str) -> None:
    bodies = [png(photo(i % 4)) for i in range(50)]
    with ThreadPoolExecutor(max_workers=10) as pool:  # a bounded load loop
        results = list(pool.map(lambda b: post(f"{server}/api/predict?variant=F0&top_k=1", b), bodies))
    assert [s for s, _ in results] == [200] * 50
    assert [d["top_k"][0]["class"] for _, d in results] == [["tl", "tr", "bl", "br"][i % 4] for i in range(50)]


def test_the_page_in_a_real_browser(server: str, tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    driver = browser(tmp_path, "1000,700")
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


def test_predict_writes_json_and_prints_csv(trained: Path, tmp_path: Path) -> None:
    import json

    photo(0).save(tmp_path / "a.png")
    command = [sys.executable, "-m", "tools.predict", str(tmp_path / "a.png"), "--model", str(trained), "--top-k", "3"]
    run = subprocess.run(
        command + ["--out", str(tmp_path / "p.json")],
        cwd=ROOT,
        env=project_env(),
        capture_output=True,
        text=True,
        check=True,
    )
    rows = json.loads((tmp_path / "p.json").read_text())
    assert len(rows) == 1 and rows[0]["class_1"] == "tl" and rows[0]["status"] == "ok"
    assert sum(rows[0][f"prob_{k}"] for k in (1, 2, 3)) <= 1.0 + 1e-6 and "1 classified, 0 unreadable" in run.stderr
    printed = subprocess.run(
        command + ["--out", "-"], cwd=ROOT, env=project_env(), capture_output=True, text=True, check=True
    ).stdout
    table = list(csv.DictReader(io.StringIO(printed)))
    assert [(r["status"], r["class_1"]) for r in table] == [("ok", "tl")] and "prob_3" in table[0]


def test_onnx_and_pytorch_paths_agree(trained: Path) -> None:
    from imgstudy.serving.predict import ONNX_TOLERANCE

    fast, eager = Predictor.load(trained, backend="onnx"), Predictor.load(trained, backend="torch")
    assert fast.onnx is not None and eager.onnx is None
    assert Predictor.load(trained).onnx is not None  # auto on a CPU: ONNX Runtime
    for c in range(4):
        image = fast.decode(png(photo(c)))
        a, b = dict(fast.top_k(image, 4)), dict(eager.top_k(image, 4))
        assert a.keys() == b.keys() and all(abs(a[k] - b[k]) <= ONNX_TOLERANCE for k in a)


@pytest.mark.parametrize(
    ("caps", "precision"), [({"amx_bf16": True, "avx512_bf16": True}, "bf16"), ({"avx2": True}, "fp32")]
)
def test_auto_classifies_through_onnx_runtime_on_every_cpu(
    trained: Path, tmp_path: Path, monkeypatch, caps: dict, precision: str
) -> None:
    """A model trained with precision auto runs in bf16 on an AMX Xeon, where ONNX Runtime's fp32 still
    answered 8x sooner than PyTorch's bf16 (bench/results.md): auto takes ONNX Runtime there too."""
    from imgstudy.core import machine

    blob = torch.load(trained, weights_only=True)
    blob["card"]["params"]["train"]["speed"]["precision"] = "auto"
    torch.save(blob, tmp_path / "auto.pt")
    monkeypatch.setattr(machine, "cpu_capabilities", lambda: caps)
    loaded = Predictor.load(tmp_path / "auto.pt")
    assert loaded.precision.name == precision and loaded.onnx is not None
    assert Predictor.load(tmp_path / "auto.pt", backend="torch").onnx is None


def test_serve_command_serves_the_page_the_api_and_the_report(trained: Path, tmp_path: Path) -> None:
    import json

    project = tmp_path / "project"
    (project / "models" / "F0").mkdir(parents=True)
    shutil.copyfile(trained, project / "models" / "F0" / "model.pt")
    raw = read_yaml(ROOT / "params.yaml")
    raw["grid"] = ["F0"]
    import yaml

    (project / "params.yaml").write_text(yaml.safe_dump(raw))
    (project / "reports").mkdir()
    (project / "reports" / "study.html").write_text("<html><body>the study report</body></html>")
    port = free_port()
    env = {**project_env(), "PYTHONPATH": str(ROOT)}
    process = subprocess.Popen(
        [sys.executable, "-m", "tools.serve", "--port", str(port)],
        cwd=project,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{base}/api/variants", timeout=5) as r:
                    listing = json.loads(r.read())
                break
            except (urllib.error.URLError, ConnectionError):
                assert time.time() < deadline and process.poll() is None, process.communicate()[1][-2000:]
                time.sleep(0.3)
        assert listing == {"variants": ["F0"], "default": "F0", "report": True}
        with urllib.request.urlopen(f"{base}/report", timeout=5) as r:
            assert b"the study report" in r.read()
        with urllib.request.urlopen(base, timeout=5) as r:
            assert b"Classify an image" in r.read()
        status, data = post(f"{base}/api/predict?top_k=1", png(photo(3)))
        assert status == 200 and data["top_k"][0]["class"] == "br"
    finally:
        process.terminate()
        process.wait(10)
