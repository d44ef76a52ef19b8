"""What sharing the committed study costs: `dvc push --run-cache` from this checkout's cache to an S3 server
(moto) and an SSH server (OpenSSH's sshd), both on loopback, then a teammate's clone that pulls and finds
nothing to rebuild. Loopback measures DVC's own cost, not a network's.

    python bench/remotes.py        # after `make run` (the cache must hold the committed study)
"""

from __future__ import annotations

import getpass
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ENV = {
    **os.environ,
    "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
    "DVC_NO_ANALYTICS": "1",
    # the server's throw-away credentials, and nothing from this machine's own AWS set-up
    "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent",
    "AWS_CONFIG_FILE": "/nonexistent",
    "AWS_EC2_METADATA_DISABLED": "true",
    "AWS_ACCESS_KEY_ID": "team",
    "AWS_SECRET_ACCESS_KEY": "secret",
}


def sh(cwd: Path, *cmd: str) -> str:
    done = subprocess.run(cmd, cwd=cwd, env=ENV, capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"{' '.join(cmd)} failed in {cwd}:\n{done.stdout}{done.stderr}")
    return done.stdout


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def clone(where: Path, shared_cache: bool) -> Path:
    sh(where.parent, "git", "clone", "-q", str(ROOT), str(where))
    sh(where, "dvc", "config", "--local", "core.check_update", "false")
    if shared_cache:  # the pusher is this checkout: its cache holds the study
        sh(where, "dvc", "cache", "dir", "--local", str(ROOT / ".dvc" / "cache"))
    return where


def round_trip(work: Path, name: str, url: str, settings: dict[str, str]) -> dict:
    times: dict = {}
    for who, verb in (("pusher", "push"), ("teammate", "pull")):
        repo = clone(work / f"{name}-{who}", shared_cache=verb == "push")
        sh(repo, "dvc", "remote", "add", "--local", name, url)
        for key, value in settings.items():
            sh(repo, "dvc", "remote", "modify", "--local", name, key, value)
        began = time.perf_counter()
        sh(repo, "dvc", verb, "--run-cache", "-r", name)
        times[f"{verb} s"] = time.perf_counter() - began
    began = time.perf_counter()
    ran = sh(repo, "dvc", "repro").count("Running stage")
    times["repro s"], times["stages run"] = time.perf_counter() - began, ran
    cache = [p for p in (repo / ".dvc" / "cache").rglob("*") if p.is_file()]
    times["files"], times["MB"] = len(cache), sum(p.stat().st_size for p in cache) / 2**20
    return times


def s3(work: Path) -> dict:
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        env=ENV,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        endpoint = f"http://127.0.0.1:{port}"
        import boto3
        import botocore.exceptions

        client = boto3.client(
            "s3",
            endpoint_url=endpoint,
            region_name="us-east-1",
            aws_access_key_id=ENV["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=ENV["AWS_SECRET_ACCESS_KEY"],
        )
        for attempt in range(100):  # until the server listens
            try:
                client.create_bucket(Bucket="study")
                break
            except botocore.exceptions.EndpointConnectionError:
                if attempt == 99:
                    raise
                time.sleep(0.2)
        return round_trip(work, "s3team", "s3://study/cache", {"endpointurl": endpoint})
    finally:
        server.terminate()


def ssh(work: Path) -> dict:
    keys = work / "keys"
    keys.mkdir()
    for name in ("host", "user"):
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(keys / name)], check=True)
    (keys / "authorized_keys").write_text((keys / "user.pub").read_text())
    port = free_port()
    config = {
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
        "Subsystem": "sftp internal-sftp",
    }
    (keys / "sshd_config").write_text("".join(f"{k} {v}\n" for k, v in config.items()))
    if os.geteuid() == 0:
        Path("/run/sshd").mkdir(exist_ok=True)
    sshd = shutil.which("sshd") or "/usr/sbin/sshd"
    server = subprocess.Popen([sshd, "-D", "-e", "-f", str(keys / "sshd_config")], stderr=subprocess.DEVNULL)
    try:
        time.sleep(1)
        url = f"ssh://{getpass.getuser()}@127.0.0.1:{port}{work / 'ssh-remote'}"
        return round_trip(work, "sshteam", url, {"keyfile": str(keys / "user"), "allow_agent": "false"})
    finally:
        server.terminate()


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="bench-remotes-") as tmp:
        for name, measure in (("S3 (moto)", s3), ("SSH (sshd)", ssh)):
            work = Path(tmp) / name.split()[0]
            work.mkdir()
            row = measure(work)
            cells = (f"{k} {v:.1f}" if isinstance(v, float) else f"{k} {v}" for k, v in row.items())
            print(f"{name}: " + ", ".join(cells))


if __name__ == "__main__":
    main()
