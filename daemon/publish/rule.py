"""The one publishing rule, the same for a bucket and a folder.

Create the object whole (`If-None-Match: *`). When the key is taken, read the remote footer: the same
`source_sha256` and `schema_version` as the local file means done (this also covers our own earlier PUT
that was killed but landed late); a difference means replace it, conditional on the version just read
(`If-Match`); a concurrent writer changing it meanwhile (412) means read it again.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from daemon.publish.target import AlreadyExists, PreconditionFailed, PublishError, Target, same_content

Result = Literal["created", "current", "replaced"]
MAX_ROUNDS = 8  # each round is lost only to another writer's success; more than this means a fight, not bad luck


@dataclass(frozen=True)
class Published:
    """How one output reached the target, and the version it has there."""

    result: Result
    etag: str


def publish_file(target: Target, key: str, local: Path, local_meta: dict[str, str]) -> Published:
    """Publish `local` (whose footer metadata is `local_meta`) at `key`; PublishError when it cannot."""
    for _ in range(MAX_ROUNDS):
        try:
            return Published("created", target.put_if_absent(key, local))
        except AlreadyExists:
            pass
        found = target.read_metadata(key)
        if found is None:
            continue  # deleted since the create failed: create again
        remote_meta, etag = found
        if same_content(remote_meta, local_meta):
            return Published("current", etag)
        try:
            return Published("replaced", target.replace_if_match(key, local, etag))
        except PreconditionFailed:
            continue  # another writer replaced it after we read it: read again
    raise PublishError(f"publishing {key}: the object kept changing under {MAX_ROUNDS} attempts")
