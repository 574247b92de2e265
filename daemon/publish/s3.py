"""An S3 (or S3-compatible) bucket as a publish target, over obstore.

Every object is written with one PUT (never multipart, so nothing partial can be left behind): create-only
(`If-None-Match: *`, a 412 is AlreadyExists) or replace-if-version (`If-Match: <etag>`, a 412 is
PreconditionFailed). Credentials come only from the standard AWS variables (obstore reads them) or, when
those are not set, the standard AWS files and chain (botocore, already here for s3fs); no setting holds
one, and no message carries one.
"""

from __future__ import annotations

import datetime as dt
import os
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

import obstore
from obstore.exceptions import AlreadyExistsError, NotFoundError, PreconditionError
from obstore.store import S3Store

from daemon.publish.target import (
    TAIL_BYTES,
    AlreadyExists,
    PreconditionFailed,
    PublishError,
    Remote,
    metadata_from_tail,
)

if TYPE_CHECKING:
    from obstore.store import S3Credential, S3CredentialProvider

_SECRET_VARIABLES = ("AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_ACCESS_KEY_ID")
MAX_MESSAGE = 300


def scrub(text: str) -> str:
    """A store's error message, first line, without any credential the environment holds."""
    line = (text.strip().splitlines() or [""])[0][:MAX_MESSAGE]
    for name in _SECRET_VARIABLES:
        value = os.environ.get(name)
        if value and len(value) >= 4:
            line = line.replace(value, "<redacted>")
    return line


_STATUS = re.compile(r"status code: (\d{3}[^:]*)")
_CODE = re.compile(r"<Code>([^<]{1,80})</Code>")
_WHY = {
    "PermissionDeniedError": "refused (credentials or permissions)",
    "UnauthenticatedError": "not authenticated (credentials)",
    "NotFoundError": "not found (bucket?)",
}


def describe(exc: Exception) -> str:
    """One line saying why a store request failed: the HTTP status and S3 error code when there was an
    answer, else the first line of the error; never a credential."""
    text = str(exc)
    status, code = _STATUS.search(text), _CODE.search(text)
    if status or code:
        why = _WHY.get(type(exc).__name__, "failed")
        parts = [p.group(1).strip() for p in (status, code) if p]
        return scrub(f"{why}: {' '.join(parts)}")
    return scrub(f"{type(exc).__name__}: {text}")


def _from_aws_files() -> S3CredentialProvider | None:
    """The standard AWS chain (profile files, SSO, instance roles) when no AWS variable holds a key."""
    if os.environ.get("AWS_ACCESS_KEY_ID"):
        return None  # obstore reads the variables itself
    import botocore.session

    found = botocore.session.get_session().get_credentials()
    if found is None:
        return None

    def provide() -> S3Credential:
        frozen = found.get_frozen_credentials()
        return {
            "access_key_id": frozen.access_key,
            "secret_access_key": frozen.secret_key,
            "token": frozen.token,
            # asked again every few minutes, so refreshed (role, SSO) credentials are picked up
            "expires_at": dt.datetime.now(dt.UTC) + dt.timedelta(minutes=5),
        }

    return provide


class S3Target:
    """One bucket and prefix."""

    def __init__(self, *, bucket: str, prefix: str, endpoint: str = "", region: str = "") -> None:
        self.url = f"s3://{bucket}/{prefix}".rstrip("/")
        config: dict[str, Any] = {}
        if endpoint:
            config["endpoint"] = endpoint
        if region:
            config["region"] = region
        # Short waits: a store that is down costs the daemon seconds per drain, not minutes; the outbox retries.
        client: dict[str, Any] = {
            "connect_timeout": "5s",
            "timeout": "300s",
            "allow_http": endpoint.startswith("http:"),
        }
        retry: dict[str, Any] = {
            "max_retries": 2,
            "retry_timeout": dt.timedelta(seconds=10),
            "backoff": {
                "init_backoff": dt.timedelta(milliseconds=100),
                "max_backoff": dt.timedelta(seconds=1),
                "base": 2,
            },
        }
        self.store = S3Store(
            bucket,
            prefix=prefix or None,
            config=config,  # type: ignore[arg-type]
            client_options=client,  # type: ignore[arg-type]
            retry_config=retry,  # type: ignore[arg-type]
            credential_provider=_from_aws_files(),
        )

    def _fail(self, what: str, key: str, exc: Exception) -> PublishError:
        return PublishError(f"{what} {self.url}/{key}: {describe(exc)}")

    def _put(self, key: str, local: Path, mode: Any) -> str:
        try:
            body = local.read_bytes()
        except OSError as exc:
            raise PublishError(f"reading {local.name}: {exc.strerror or exc}") from None
        try:
            result = obstore.put(self.store, key, body, mode=mode, use_multipart=False)
        except AlreadyExistsError:
            raise AlreadyExists(key) from None
        except PreconditionError:
            raise PreconditionFailed(key) from None
        except Exception as exc:  # noqa: BLE001 - every other store or network failure: retried later
            raise self._fail("publishing", key, exc) from None
        return str(result.get("e_tag") or "")

    def put_if_absent(self, key: str, local: Path) -> str:
        return self._put(key, local, "create")

    def replace_if_match(self, key: str, local: Path, etag: str) -> str:
        return self._put(key, local, {"e_tag": etag})

    def head(self, key: str) -> Remote | None:
        try:
            meta = obstore.head(self.store, key)
        except NotFoundError:
            return None
        except Exception as exc:  # noqa: BLE001 - see _put
            raise self._fail("reading", key, exc) from None
        return Remote(key, str(meta.get("e_tag") or ""), int(meta["size"]))

    def list_folder(self, folder: str) -> dict[str, Remote]:
        try:
            listed = obstore.list_with_delimiter(self.store, folder + "/")
        except Exception as exc:  # noqa: BLE001 - see _put
            raise self._fail("listing", folder, exc) from None
        return {o["path"]: Remote(o["path"], str(o.get("e_tag") or ""), int(o["size"])) for o in listed["objects"]}

    def read_metadata(self, key: str) -> tuple[dict[str, str], str] | None:
        try:
            got = obstore.get(self.store, key, options={"range": {"suffix": TAIL_BYTES}})
            tail = bytes(got.bytes())
            etag = str(got.meta.get("e_tag") or "")
            size = int(got.meta["size"])

            def more(n: int) -> bytes:
                again = obstore.get(self.store, key, options={"range": {"suffix": n}, "if_match": etag})
                return bytes(again.bytes())

            return metadata_from_tail(tail, size, more), etag
        except NotFoundError:
            return None
        except PreconditionError:
            return {}, ""  # replaced while its footer was read: compares as different, and the If-Match fails
        except Exception as exc:  # noqa: BLE001 - see _put
            raise self._fail("reading", key, exc) from None
