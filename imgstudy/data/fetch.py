"""HTTP download that never leaves a wrong file behind: temp file, resume, retry, sha256."""

from __future__ import annotations

import hashlib
import http.client
import os
import time
import urllib.error
import urllib.request
from pathlib import Path

from tqdm import tqdm

from imgstudy.core.errors import DownloadError
from imgstudy.params.data import checksum_parts

CHUNK = 1 << 20


def digest_of(path: Path, algorithm: str = "sha256") -> str:
    digest = hashlib.new(algorithm)
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def _transfer(url: str, part: Path, timeout: float) -> None:
    """Append the rest of `url` to `part`, asking the server to resume where it ends."""
    have = part.stat().st_size if part.exists() else 0
    request = urllib.request.Request(url, headers={"Range": f"bytes={have}-"} if have else {})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        if have and response.status != 206:  # server ignored the range: start over
            have = 0
        total = response.headers.get("Content-Length")
        total = int(total) + have if total is not None else None
        with (
            open(part, "ab" if have else "wb") as out,
            tqdm(total=total, initial=have, unit="B", unit_scale=True, desc=Path(part.name).stem, leave=False) as bar,
        ):
            for block in iter(lambda: response.read(CHUNK), b""):
                out.write(block)
                bar.update(len(block))
        if total is not None and part.stat().st_size < total:
            raise DownloadError(f"{url}: connection closed at {part.stat().st_size} of {total} bytes")


def download(
    url: str, dest: Path, checksum: str | None, retries: int = 4, backoff: float = 1.0, timeout: float = 60.0
) -> Path:
    """Download `url` to `dest`; `dest` appears only once complete and its checksum matches
    ('sha256:<hex>', 'md5:<hex>' or a bare sha256; None when none is published).

    A partial `<dest>.part` from an interrupted run is resumed with an HTTP Range request.
    Transient failures (connection errors, 5xx, short reads) are retried with exponential
    backoff; a checksum mismatch deletes the partial file and fails at once.
    """
    dest = Path(dest)
    if checksum:
        checksum_parts(checksum)  # a malformed checksum fails before the download, not after
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    for attempt in range(retries + 1):
        try:
            _transfer(url, part, timeout)
            break
        except urllib.error.HTTPError as e:
            if e.code == 416 and part.exists():  # the partial file is already complete
                break
            if e.code < 500 or attempt == retries:
                raise DownloadError(f"{url}: HTTP {e.code} {e.reason}") from None
        except (urllib.error.URLError, OSError, http.client.HTTPException, DownloadError) as e:
            if attempt == retries:
                raise DownloadError(f"{url}: failed after {retries + 1} attempts: {e}") from None
        time.sleep(backoff * 2**attempt)
    if checksum:
        algorithm, expected = checksum_parts(checksum)
        actual = digest_of(part, algorithm)
        if actual != expected:
            part.unlink()
            raise DownloadError(f"{url}: {algorithm} mismatch: expected {expected}, got {actual}; file deleted")
    os.replace(part, dest)
    return dest
