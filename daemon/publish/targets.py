"""Choosing the target `output_url` names, and what a reader of the published dataset needs.

Kept apart from `target.py` (the protocol and the folder target) and `s3.py` (the bucket target, which
builds on the protocol), so neither imports the other's module back.
"""

from __future__ import annotations

import urllib.parse
from pathlib import Path
from typing import Any

from daemon.publish.target import FolderTarget, Target
from daemon.settings import Settings


def open_target(settings: Settings) -> Target:
    """The target `output_url` names (an s3:// bucket, a file:// URL or a folder path)."""
    parsed = urllib.parse.urlsplit(settings.output_url)
    if parsed.scheme == "s3":
        from daemon.publish.s3 import S3Target  # obstore: only a bucket target loads it

        return S3Target(
            bucket=parsed.hostname or "",
            prefix=parsed.path.strip("/"),
            endpoint=settings.s3_endpoint_url,
            region=settings.s3_region,
        )
    if parsed.scheme == "file":
        return FolderTarget(Path(urllib.parse.unquote(parsed.path)))
    return FolderTarget(settings.path(settings.output_url))


def storage_options(settings: Settings) -> dict[str, Any]:
    """What a reader of the published dataset (s3fs, for DuckDB) needs beyond the AWS variables and files."""
    options: dict[str, Any] = {}
    client: dict[str, Any] = {}
    if settings.s3_endpoint_url:
        options["endpoint_url"] = settings.s3_endpoint_url
    if settings.s3_region:
        client["region_name"] = settings.s3_region
    if client:
        options["client_kwargs"] = client
    return options
