"""A team beyond one folder: DVC's run cache carries every per-variant stage, a grid is trained on two
machines and collected on a third whose dvc.lock equals a one-machine build's, and data, models and the
run cache go through a real S3 server (moto) and a real OpenSSH server, both on loopback.

Each machine is a clone in its own folder. The studies are the tiny default grid slice of
test_pipeline_e2e (F1, F4); the one-machine build is made once for the module.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from conftest import TINY, copy_project, edit_params, project_env, require, sh
from tools import shard

pytestmark = pytest.mark.heavy

GRID = ["F1", "F4"]
PER_VARIANT = [f"{stage}@{v}" for v in GRID for stage in ("train", "evaluate")]
DATA = ["download", "preprocess", "split"]


@dataclass(frozen=True)
class Built:
    repo: Path  # the one-machine build (tests only read it)
    origin: Path  # the team's git remote (bare): main before the build, branch `built` after it


def ran(output: str) -> set[str]:
    return {line.split("'")[1] for line in output.splitlines() if line.startswith("Running stage")}


def restored(output: str) -> set[str]:
    return {line.split("'")[1] for line in output.splitlines() if "is cached - skipping run" in line}


@contextmanager
def locked(path: Path):
    with open(path, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


@pytest.fixture(scope="session")
def built(tmp_path_factory, worker_id: str) -> Built:
    """The study built once for the session: by the first test process that asks, the others waiting."""
    shared = tmp_path_factory.getbasetemp().parent if worker_id != "master" else tmp_path_factory.mktemp("one")
    root = shared / "team"
    with locked(shared / "team.lock"):
        if not (root / "built").is_file():
            shutil.rmtree(root, ignore_errors=True)
            build(root)
            (root / "built").touch()
    return Built(root / "one" / "study", root / "origin.git")


def build(root: Path) -> None:
    repo = root / "one" / "study"
    copy_project(repo)
    edit_params(repo, {**TINY, "grid": GRID})
    sh(repo, "git", "init", "-q", "-b", "main")
    sh(repo, "git", "add", "-A")
    sh(repo, "git", "commit", "-qm", "tiny study")
    origin = root / "origin.git"
    sh(root, "git", "clone", "-q", "--bare", str(repo), str(origin))
    assert ran(sh(repo, "dvc", "repro").stdout) == {*DATA, *PER_VARIANT, "compare", "report"}
    sh(repo, "git", "add", "-A")
    sh(repo, "git", "commit", "-qm", "built: dvc.lock, the comparison and the report")
    sh(repo, "git", "push", "-q", str(origin), "main:built")


def clone(built: Built, where: Path, branch: str = "main", cache: bool = False) -> Path:
    """A machine: a clone of the team's repository in a folder of its own; with cache, sharing the one-machine
    build's DVC cache (what that machine has to push)."""
    path = where / "study"
    path.parent.mkdir(parents=True, exist_ok=True)
    sh(where, "git", "clone", "-q", "-b", branch, str(built.origin), str(path))
    if cache:
        sh(path, "dvc", "cache", "dir", "--local", str(built.repo / ".dvc/cache"))
    return path


def lock(repo: Path) -> dict:
    return yaml.safe_load((repo / "dvc.lock").read_text())["stages"]


def run_cache_stages(repo: Path) -> set[str]:
    """The stages of repo's dvc.lock whose exact run (cmd, deps, params, outs) has a run-cache entry."""
    entries = [yaml.safe_load(p.read_text()) for p in (repo / ".dvc/cache/runs").rglob("*") if p.is_file()]
    return {name for name, stage in lock(repo).items() if any(e == stage for e in entries)}


def test_every_per_variant_stage_has_a_run_cache_entry_that_push_carries(built: Built, tmp_path: Path) -> None:
    """No persist output, no uncached one: DVC records every stage but compare and report (whose tables
    are committed to git) in its run cache, and `dvc push --run-cache` takes the entries along."""
    assert run_cache_stages(built.repo) == {*DATA, *PER_VARIANT}
    remote, pusher = tmp_path / "folder-remote", clone(built, tmp_path / "one", "built", cache=True)
    sh(pusher, "dvc", "remote", "add", "--local", "team", str(remote))
    sh(pusher, "dvc", "push", "--run-cache", "-r", "team")
    assert len([p for p in (remote / "runs").rglob("*") if p.is_file()]) == len(DATA + PER_VARIANT)


@pytest.mark.timeout(600)  # three clones build, push and pull; the session's one-machine build first
def test_a_grid_trained_on_two_machines_is_collected_on_a_third(built: Built, tmp_path: Path) -> None:
    """Machine x trains F1, machine y F4, each pushing its outputs and run cache; machine z restores every
    stage from the run cache (`dvc repro --pull`), builds only compare and report, and its dvc.lock equals
    the one-machine build's: every hash, in three other folders. Then each of x and y queues an
    experiment and pushes it; z pulls both and compares them."""
    remote = tmp_path / "remote-two"
    machines = {name: clone(built, tmp_path / where) for name, where in (("x", "x"), ("y", "deeper/y"), ("z", "z"))}
    for repo in machines.values():
        sh(repo, "dvc", "remote", "add", "-d", "--local", "team", str(remote))
    x, y, z = machines.values()
    first, second = (shard.share(GRID, [], 2, index) for index in (0, 1))
    assert first == ["train@F1", "evaluate@F1"]
    out = sh(x, "dvc", "repro", *first).stdout
    assert ran(out) == {*DATA, *first}, out
    sh(x, "dvc", "push", "--run-cache")
    out = sh(y, "dvc", "repro", "--pull", *second).stdout
    assert restored(out) == set(DATA) and ran(out) == set(second), out
    sh(y, "dvc", "push", "--run-cache")
    out = sh(z, "dvc", "repro", "--pull").stdout
    assert ran(out) == {"compare", "report"} and restored(out) == {*DATA, *PER_VARIANT}, out
    one, collected = lock(built.repo), lock(z)
    assert set(one) == set(collected)
    for stage in one:
        outs = {o["path"]: o for o in collected[stage].get("outs", [])}
        for out in one[stage].get("outs", []):  # the output by name, where one differs
            assert out == outs.get(out["path"]), f"{stage}: output {out['path']} differs between the folders"
        for key in ("cmd", "deps", "params", "outs"):
            assert one[stage].get(key) == collected[stage].get(key), f"{stage}: {key} differs between the folders"
    a_teams_experiments(x, y, z)


def a_teams_experiments(x: Path, y: Path, z: Path) -> None:
    for repo, name, resamples in ((x, "x-boot", 200), (y, "y-boot", 300)):
        sh(repo, "dvc", "repro", "--pull")  # the other machine's share, from the run cache
        sh(repo, "dvc", "exp", "run", "--queue", "-n", name, "-S", f"compare.bootstrap={resamples}")
        sh(repo, "dvc", "queue", "start")
        wait_for_queue(repo)
        sh(repo, "dvc", "exp", "push", "origin", name)
    for name in ("x-boot", "y-boot"):
        sh(z, "dvc", "exp", "pull", "origin", name)
    rows = json.loads(sh(z, "dvc", "exp", "show", "--json").stdout)
    names = {e.get("name") for baseline in rows for e in (baseline.get("experiments") or [])}
    assert {"x-boot", "y-boot"} <= names, names


def wait_for_queue(repo: Path, timeout: float = 300) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        status = sh(repo, "dvc", "queue", "status").stdout
        if "Queued" not in status and "Running" not in status:
            assert "Failed" not in status, status
            return
        time.sleep(1)
    raise AssertionError(f"queue still busy after {timeout}s:\n{status}")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port: int, process: subprocess.Popen, timeout: float = 30) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        assert process.poll() is None, process.communicate()
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.1)
    raise AssertionError(f"nothing listens on port {port} after {timeout}s")


def round_trip(
    built: Built, where: Path, name: str, url: str, settings: dict[str, str], env: dict[str, str]
) -> dict[str, float]:
    """Push the one-machine build's data, models and run cache to the remote; a clone in another folder,
    configured the same way, pulls them and `dvc repro` has nothing to rebuild. Returns the times."""

    def configure(repo: Path) -> None:
        sh(repo, "dvc", "remote", "add", "--local", name, url)
        for key, value in settings.items():
            sh(repo, "dvc", "remote", "modify", "--local", name, key, value)

    pusher = clone(built, where / "one", "built", cache=True)
    configure(pusher)
    began = time.perf_counter()
    run(pusher, env, "dvc", "push", "--run-cache", "-r", name)
    pushed = time.perf_counter() - began
    teammate = clone(built, where / "teammate", branch="built")  # what the team committed
    configure(teammate)
    began = time.perf_counter()
    run(teammate, env, "dvc", "pull", "--run-cache", "-r", name)
    pulled = time.perf_counter() - began
    out = run(teammate, env, "dvc", "repro").stdout
    assert "Running stage" not in out, out
    return {"push_s": pushed, "pull_s": pulled}


def run(repo: Path, env: dict[str, str], *cmd: str, check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run(cmd, cwd=repo, env={**project_env(), **env}, capture_output=True, text=True)
    if check and result.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} failed:\n{result.stdout}\n{result.stderr}")
    return result


# Nothing but the test's own settings: no credentials file, no metadata service (it is not on loopback).
NO_AWS = {
    "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent",
    "AWS_CONFIG_FILE": "/nonexistent",
    "AWS_EC2_METADATA_DISABLED": "true",
    "AWS_ACCESS_KEY_ID": "",
    "AWS_SECRET_ACCESS_KEY": "",
}


def test_an_s3_remote_on_a_real_server(built: Built, tmp_path: Path) -> None:
    """moto's S3 server on loopback; the remote's address is config, its credentials come from the
    environment (or `dvc remote modify --local`), never from a committed file."""
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, **NO_AWS},
    )
    try:
        wait_for_port(port, server)
        import boto3

        endpoint = f"http://127.0.0.1:{port}"
        keys = {"aws_access_key_id": "team", "aws_secret_access_key": "secret", "region_name": "us-east-1"}
        boto3.client("s3", endpoint_url=endpoint, **keys).create_bucket(Bucket="study")
        credentials = {"AWS_ACCESS_KEY_ID": "team", "AWS_SECRET_ACCESS_KEY": "secret"}
        env = {**NO_AWS, **credentials}
        times = round_trip(built, tmp_path, "s3team", "s3://study/cache", {"endpointurl": endpoint}, env)
        print(f"s3 round trip: {times}")

        stranger = clone(built, tmp_path / "stranger", branch="built")
        sh(stranger, "dvc", "remote", "add", "--local", "s3team", "s3://study/cache")
        sh(stranger, "dvc", "remote", "modify", "--local", "s3team", "endpointurl", endpoint)
        refused = run(stranger, NO_AWS, "dvc", "pull", "-r", "s3team", check=False)
        # DVC's own words: its first error line names the missing credentials, its second counts the files
        errors = [line for line in refused.stderr.splitlines() if line.startswith("ERROR")]
        assert refused.returncode != 0 and "Traceback" not in refused.stderr, refused.stderr
        assert errors and "unable to locate credentials" in errors[0].lower(), refused.stderr
    finally:
        server.terminate()
        server.wait(10)


def test_an_ssh_remote_on_a_real_server(built: Built, tmp_path: Path) -> None:
    """OpenSSH's sshd on a loopback port with a throw-away key; the remote uses that key alone."""
    sshd = shutil.which("sshd") or ("/usr/sbin/sshd" if Path("/usr/sbin/sshd").is_file() else None)
    require(sshd is not None, "Debian openssh-server (sshd)")
    keys = tmp_path / "keys"
    keys.mkdir()
    for name in ("host", "user"):
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(keys / name)], check=True)
    (keys / "authorized_keys").write_text((keys / "user.pub").read_text())
    port = free_port()
    config = keys / "sshd_config"
    settings = {
        "Port": port,
        "ListenAddress": "127.0.0.1",
        "HostKey": keys / "host",
        "AuthorizedKeysFile": keys / "authorized_keys",
        "PidFile": keys / "sshd.pid",
        "PasswordAuthentication": "no",
        "KbdInteractiveAuthentication": "no",
        "UsePAM": "no",
        "StrictModes": "no",
        "PermitRootLogin": "yes",
        "Subsystem": "sftp internal-sftp",  # DVC's SSH remote speaks SFTP
    }
    config.write_text("".join(f"{key} {value}\n" for key, value in settings.items()))
    if os.geteuid() == 0:
        Path("/run/sshd").mkdir(exist_ok=True)  # sshd's privilege separation directory
    server = subprocess.Popen([sshd, "-D", "-e", "-f", str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        wait_for_port(port, server)
        user = os.environ.get("USER") or __import__("getpass").getuser()
        url = f"ssh://{user}@127.0.0.1:{port}{tmp_path / 'ssh-remote'}"
        # allow_agent false: asyncssh would offer the agent's keys first, and sshd cuts it off after too many
        settings = {"keyfile": str(keys / "user"), "allow_agent": "false"}
        times = round_trip(built, tmp_path, "sshteam", url, settings, {})
        print(f"ssh round trip: {times}")
    finally:
        server.terminate()
        server.wait(10)
