"""Errors a user can fix: bad params, refused data, missing credentials or weights.

Stages and tools print these as one message on stderr and exit non-zero, without a
traceback (imgstudy.core.cli); any other exception is a bug and keeps its traceback.
"""

from __future__ import annotations


class UserError(Exception):
    """A problem with the user's input; the message names the file, key or value and the fix."""


class ParamsError(UserError, ValueError):
    """A params file that cannot be used."""


class SourceError(UserError, RuntimeError):
    """Data that cannot be read or fetched as asked."""


class DownloadError(SourceError):
    """A download that failed for good (after its retries) or did not match its checksum."""


class UnsafeArchive(SourceError):
    """An archive with a member that would land outside its target."""


class WeightsUnavailable(UserError, RuntimeError):
    """Pretrained weights that are neither cached nor downloadable here."""
