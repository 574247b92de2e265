"""moto's S3 server for the publishing tests: in this process, on 127.0.0.1, on a free port.

moto is an S3 implementation no one on the team wrote; it honours `If-None-Match: *` and `If-Match` with
412s as S3 does (npm's s3rver ignores both, so it would prove nothing). Its request recorder is the
server's own log of what it was sent.
"""

from __future__ import annotations

import json
import socket
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
from moto.server import ThreadedMotoServer

ACCESS_KEY = "AKIAFLEETTEST0000001"
SECRET_KEY = "fleet-test-secret-d41d8cd98f00b204e980"  # moto accepts any key unless auth is switched on


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class S3Server:
    """A running moto S3 server and a boto3 client for the tests' own looking."""

    port: int
    server: ThreadedMotoServer
    log: Path

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def client(self, key: str = ACCESS_KEY, secret: str = SECRET_KEY) -> Any:
        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            region_name="us-east-1",
            aws_access_key_id=key,
            aws_secret_access_key=secret,
        )

    def stop(self) -> None:
        self.server.stop()

    def start(self) -> None:
        """Start again on the same port (moto's buckets live in this process, so they survive a stop)."""
        self.server = ThreadedMotoServer(ip_address="127.0.0.1", port=self.port, verbose=False)
        self.server.start()

    def _post(self, path: str, body: bytes = b"") -> bytes:
        request = urllib.request.Request(
            self.endpoint + path, data=body, method="POST", headers={"Content-Type": "text/plain"}
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            return bytes(response.read())

    def record(self) -> None:
        """Start the request log afresh."""
        self.log.write_text("")
        self._post("/moto-api/recorder/start-recording")

    def requests(self) -> list[dict[str, Any]]:
        """Every request since `record()`: method, url, headers (bodies dropped)."""
        self._post("/moto-api/recorder/stop-recording")
        out = []
        for line in self.log.read_text().splitlines():
            entry = json.loads(line)
            out.append({"method": entry["method"], "url": entry["url"], "headers": entry["headers"]})
        return out

    def set_auth(self, free_requests: float) -> None:
        """Check credentials (against moto's IAM) after `free_requests` more requests; inf switches it off."""
        self._post("/moto-api/reset-auth", str(free_requests).encode())


def start_server(log: Path) -> S3Server:
    from moto import moto_api

    moto_api.recorder._location = str(log)  # the recorder's file (it is a module-level object of this process)
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    return S3Server(port, server, log)
