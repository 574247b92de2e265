"""Publishing to S3 (moto's server on loopback) and to a folder: the create-or-compare rule, the outbox,
and the CLI's view of both."""

from __future__ import annotations

import datetime as dt
import io
import os
import random
import secrets
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from daemon.analytics.health import WARNING, gather, judge
from daemon.convert.writer import read_metadata
from daemon.publish.outbox import Publisher, backoff
from daemon.publish.rule import publish_file
from daemon.publish.target import FolderTarget
from daemon.settings import Settings, resolve
from daemon.state.database import State
from tests.conftest import HEADER, WriteCsv, call_main, daily_rows
from tests.s3server import ACCESS_KEY, SECRET_KEY, S3Server, start_server

REPO = Path(__file__).resolve().parents[1]
DAY = "20260115"
KEY = f"query_perf/host=alpha/year=2026/month=01/query_perf_{DAY}.parquet"


@pytest.fixture(scope="module")
def s3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    """One moto S3 server for the module, on 127.0.0.1 and a free port."""
    server = start_server(tmp_path_factory.mktemp("moto") / "requests.jsonl")
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def bucket(s3: S3Server) -> str:
    """A new empty bucket."""
    name = f"fleet-{secrets.token_hex(4)}"
    s3.client().create_bucket(Bucket=name)
    return name


def fleet_env(s3: S3Server, bucket: str, host: str = "alpha", secret: str = SECRET_KEY) -> dict[str, str]:
    """The environment a host publishing to `bucket` runs with (settings and the standard AWS variables)."""
    return {
        "PARQUET_EXPORTER_OUTPUT_URL": f"s3://{bucket}/fleet",
        "PARQUET_EXPORTER_S3_ENDPOINT_URL": s3.endpoint,
        "PARQUET_EXPORTER_S3_REGION": "us-east-1",
        "PARQUET_EXPORTER_FLEET_HOST": host,
        "AWS_ACCESS_KEY_ID": ACCESS_KEY,
        "AWS_SECRET_ACCESS_KEY": secret,
    }


@pytest.fixture
def fleet(s3: S3Server, bucket: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """This process publishes to `bucket` as host alpha; returns the bucket."""
    for name, value in fleet_env(s3, bucket).items():
        monkeypatch.setenv(name, value)
    return bucket


def objects(s3: S3Server, bucket: str) -> dict[str, dict[str, Any]]:
    """Every object in the bucket by key (below the prefix): its ETag, size and bytes."""
    client = s3.client()
    out = {}
    for item in client.list_objects_v2(Bucket=bucket).get("Contents", []):
        body = client.get_object(Bucket=bucket, Key=item["Key"])["Body"].read()
        out[item["Key"].removeprefix("fleet/")] = {"etag": item["ETag"], "size": item["Size"], "body": body}
    return out


def export_json(root: Path, *extra: str) -> dict[str, Any]:
    result = call_main("export", "--json", "--root", root, *extra)
    assert 0 == result.code, result.err
    document: dict[str, Any] = result.json()
    return document


def settings_for(root: Path) -> Settings:
    return resolve({"root": root})


# ------------------------------------------------------------------------------------ the rule
def test_export_publishes_each_output_whole(root: Path, fleet: str, s3: S3Server, write_daily: WriteCsv) -> None:
    """An export publishes its output under dataset/host=/year=/month=, byte for byte the local file."""
    write_daily(DAY)
    document = export_json(root)
    assert ["published"] == [w["publish"] for w in document["written"]]
    local = root / "knowledge/optimize/parquet" / KEY
    assert [KEY] == list(objects(s3, fleet))
    assert local.read_bytes() == objects(s3, fleet)[KEY]["body"]
    assert 0 == document["publish"]["pending"]


def test_rerun_sends_no_put(root: Path, fleet: str, s3: S3Server, write_daily: WriteCsv) -> None:
    """A second export and a reconciliation of an unchanged root send no PUT and leave the ETag as it was."""
    write_daily(DAY)
    export_json(root)
    before = objects(s3, fleet)[KEY]["etag"]
    s3.record()
    document = export_json(root)
    with State(settings_for(root).state_path / "state.db") as state:
        reconciled = Publisher(settings_for(root), state).reconcile()
    requests = s3.requests()
    assert [] == document["written"]
    assert [] == [r for r in requests if r["method"] == "PUT"]
    assert 1 == reconciled.listings  # one month folder: one listing, not a request per file
    assert ([], [], []) == (reconciled.missing, reconciled.outdated, reconciled.orphaned)
    assert before == objects(s3, fleet)[KEY]["etag"]


def test_changed_source_is_replaced_with_if_match(root: Path, fleet: str, s3: S3Server, write_daily: WriteCsv) -> None:
    """A changed source's new output meets a 412 on create, then replaces the object with If-Match on its ETag."""
    write_daily(DAY)
    export_json(root)
    old_etag = objects(s3, fleet)[KEY]["etag"]
    write_daily(DAY, daily_rows(dt.date(2026, 1, 15), n=9))
    s3.record()
    document = export_json(root)
    puts = [r for r in s3.requests() if r["method"] == "PUT"]
    local = root / "knowledge/optimize/parquet" / KEY
    assert ["published"] == [w["publish"] for w in document["written"]]
    assert ["*", None] == [r["headers"].get("If-None-Match") for r in puts]
    assert [None, old_etag] == [r["headers"].get("If-Match") for r in puts]
    assert local.read_bytes() == objects(s3, fleet)[KEY]["body"]
    assert 9 == pl.read_parquet(io.BytesIO(objects(s3, fleet)[KEY]["body"])).height


def test_rule_on_a_folder_creates_compares_and_replaces(tmp_path: Path, write_daily: WriteCsv, root: Path) -> None:
    """On a folder target the same rule creates, then finds the same content current, then replaces a change."""
    write_daily(DAY)
    assert 0 == call_main("export", "--root", root).code
    local = next((root / "knowledge/optimize/parquet").rglob("*.parquet"))
    target = FolderTarget(tmp_path / "shared")
    meta = read_metadata(local)
    changed = {**meta, "source_sha256": "0" * 64}
    results = [publish_file(target, "a/x.parquet", local, m).result for m in (meta, meta, changed)]
    assert ["created", "current", "replaced"] == results
    assert local.read_bytes() == (tmp_path / "shared/a/x.parquet").read_bytes()
    assert [] == [p.name for p in (tmp_path / "shared/a").iterdir() if p.name != "x.parquet"]


def test_concurrent_writers_of_one_key_each_end_in_one_whole_object(
    s3: S3Server, bucket: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Eight writers publishing different versions of one key at once all finish, and the object is one of them."""
    from daemon.publish.s3 import S3Target

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", ACCESS_KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
    versions = []
    for i in range(8):
        path = tmp_path / f"v{i}.parquet"
        meta = {"source_sha256": f"{i:064d}", "schema_version": "1"}
        pl.DataFrame({"v": [i] * 1000}).write_parquet(
            path, metadata={f"parquet_exporter.{k}": v for k, v in meta.items()}
        )
        versions.append((path, meta))
    target = S3Target(bucket=bucket, prefix="race", endpoint=s3.endpoint, region="us-east-1")
    results: list[str] = []
    barrier = threading.Barrier(len(versions))

    def work(path: Path, meta: dict[str, str]) -> None:
        barrier.wait()
        results.append(publish_file(target, "k.parquet", path, meta).result)

    threads = [threading.Thread(target=work, args=v) for v in versions]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    body = s3.client().get_object(Bucket=bucket, Key="race/k.parquet")["Body"].read()
    assert 8 == len(results)
    assert 1 == results.count("created")
    assert body in [p.read_bytes() for p, _ in versions]


# ------------------------------------------------------------------------------- two hosts at once
def test_two_hosts_publish_into_one_bucket_at_once(
    tmp_path: Path, s3: S3Server, bucket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two hosts exporting at the same moment each publish their own files; `query`, `validate` and `report`
    read the bucket, every view with a host column."""
    roots = {}
    for host in ("alpha", "beta"):
        root = tmp_path / host
        (root / "g/reports").mkdir(parents=True)
        (root / "knowledge/optimize").mkdir(parents=True)
        for day, n in (("20260114", 4 if host == "alpha" else 6), ("20260201", 3)):
            lines = daily_rows(dt.datetime.strptime(day, "%Y%m%d").date(), n)
            (root / "g/reports" / f"query_perf_daily_{day}.csv").write_text("\n".join([HEADER, *lines]) + "\n")
        roots[host] = root
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "daemon", "export", "--historical", "--json", "--root", str(root)],
            env={**os.environ, **fleet_env(s3, bucket, host)},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for host, root in roots.items()
    ]
    outs = [p.communicate(timeout=120) for p in procs]
    assert [0, 0] == [p.returncode for p in procs], [o[1] for o in outs]
    keys = sorted(objects(s3, bucket))
    assert 4 == len(keys)
    assert {"host=alpha", "host=beta"} == {k.split("/")[1] for k in keys}
    for name, value in fleet_env(s3, bucket, "alpha").items():
        monkeypatch.setenv(name, value)
    result = call_main(
        "query",
        "SELECT host, count(*) AS n FROM query_performance GROUP BY host ORDER BY host",
        "--format",
        "csv",
        "--root",
        roots["alpha"],
    )
    validated = call_main("validate", "--root", roots["alpha"])
    report = call_main("report", "--root", roots["alpha"], "--out", tmp_path / "report.html")
    assert 0 == result.code, result.err
    assert ["host,n", "alpha,7", "beta,9"] == result.out.split()
    assert 0 == validated.code, validated.out
    assert "Checked 4 files, 16 rows" in validated.out
    assert 0 == report.code, report.err


# -------------------------------------------------------------------------------- kill -9, outages
def big_csv(path: Path, rows: int, seed: int) -> None:
    """A daily CSV whose query_hash is random hex, so its Parquet stays large (about 1 MB per 8,000 rows)."""
    rng = random.Random(seed)
    day = dt.datetime(2026, 1, 15)
    lines = [HEADER]
    for i in range(rows):
        ts = (day + dt.timedelta(seconds=i % 86400)).isoformat()
        lines.append(f"{ts}Z,{rng.getrandbits(512):0128x},SELECT,{i * 0.5},{i},{i % 7},true,t{i % 9},idx,1.0,0.5")
    path.write_text("\n".join(lines) + "\n")


@pytest.mark.slow
def test_kill_9_during_publish_leaves_nothing_partial(root: Path, s3: S3Server, bucket: str) -> None:
    """kill -9 at seeded random moments of publishing a ~12 MB output: the object is absent or whole, never
    partial, and the next run publishes it."""
    big_csv(root / "g/reports" / f"query_perf_daily_{DAY}.csv", 160_000, seed=5)
    down = {**fleet_env(s3, bucket), "PARQUET_EXPORTER_S3_ENDPOINT_URL": "http://127.0.0.1:9"}
    command = [sys.executable, "-m", "daemon", "export", "--json", "--root", str(root)]
    first = subprocess.run(
        command, check=False, env={**os.environ, **down}, capture_output=True, text=True, timeout=300
    )
    assert 0 == first.returncode, first.stderr
    local = root / "knowledge/optimize/parquet" / KEY
    whole = local.read_bytes()
    assert len(whole) > 10 * 1024 * 1024
    rng = random.Random(15)
    client = s3.client()
    for _ in range(5):
        proc = subprocess.Popen(command, env={**os.environ, **fleet_env(s3, bucket)}, stdout=subprocess.DEVNULL)
        time.sleep(rng.uniform(0.5, 3.0))
        proc.kill()
        proc.wait()
        time.sleep(0.5)  # a body that reached the server may land after its writer died
        found = objects(s3, bucket)
        assert [] == client.list_multipart_uploads(Bucket=bucket).get("Uploads", [])
        if KEY in found:
            assert whole == found[KEY]["body"]
            assert 160_000 == pl.read_parquet(io.BytesIO(found[KEY]["body"])).height
            # start the next round from nothing again: the object gone, the output queued as if just written
            client.delete_object(Bucket=bucket, Key=f"fleet/{KEY}")
            with State(root / "g/state/parquet_export/state.db") as state:
                state.outbox_put(KEY, f"knowledge/optimize/parquet/{KEY}", time.time())
    last = subprocess.run(
        command, check=False, env={**os.environ, **fleet_env(s3, bucket)}, capture_output=True, text=True
    )
    assert 0 == last.returncode, last.stderr
    assert whole == objects(s3, bucket)[KEY]["body"]
    with State(root / "g/state/parquet_export/state.db") as state:
        assert (0, None) == state.outbox_summary()


def test_store_down_while_files_arrive_then_everything_is_published(
    root: Path, fleet: str, s3: S3Server, write_daily: WriteCsv
) -> None:
    """With the store stopped, exports go on and queue their outputs; status and health say so; once the
    store is back the daemon's sweep publishes every one of them."""
    s3.stop()
    try:
        keys = []
        for day in ("20260113", "20260114", "20260115"):
            write_daily(day)
            document = export_json(root, "--date", f"{day[:4]}-{day[4:6]}-{day[6:]}")
            assert ["queued"] == [w["publish"] for w in document["written"]]
            keys.append(f"query_perf/host=alpha/year=2026/month=01/query_perf_{day}.parquet")
        settings = settings_for(root)
        facts = gather(settings, now=dt.datetime.now(dt.UTC) + dt.timedelta(hours=2))
        level, reasons = judge(facts, settings.storage_alert_gb)
        status = call_main("status", "--root", root)
    finally:
        s3.start()
    assert 3 == facts.pending_uploads
    assert WARNING <= level
    assert any("not yet published" in r for r in reasons)
    assert "3 pending" in status.out
    assert 3 == len(list((root / "knowledge/optimize/parquet").rglob("*.parquet")))
    result = call_main("run", "--once", "--root", root)
    assert 0 == result.code, result.err
    assert sorted(keys) == sorted(objects(s3, fleet))
    with State(settings_for(root).state_path / "state.db") as state:
        assert (0, None) == state.outbox_summary()


def test_wrong_credentials_are_a_clear_error_retried_and_never_logged(
    root: Path, s3: S3Server, bucket: str, monkeypatch: pytest.MonkeyPatch, write_daily: WriteCsv
) -> None:
    """A refused key leaves the output queued with a one-line reason and no secret in the log; the right
    key publishes it at the next run."""
    iam = s3.client()
    s3.set_auth(3)  # the next three requests (an IAM user, its policy and key) go unchecked
    try:
        import boto3

        client = boto3.client(
            "iam",
            endpoint_url=s3.endpoint,
            region_name="us-east-1",
            aws_access_key_id=ACCESS_KEY,
            aws_secret_access_key=SECRET_KEY,
        )
        client.create_user(UserName="fleet")
        client.put_user_policy(
            UserName="fleet",
            PolicyName="s3",
            PolicyDocument='{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"*"}]}',
        )
        key = client.create_access_key(UserName="fleet")["AccessKey"]
        wrong = "wrong-secret-" + secrets.token_hex(8)
        for name, value in fleet_env(s3, bucket).items():
            monkeypatch.setenv(name, value)
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", key["AccessKeyId"])
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", wrong)
        write_daily(DAY)
        refused = export_json(root)
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", key["SecretAccessKey"])
        accepted = export_json(root)
    finally:
        s3.set_auth(float("inf"))
    log = (root / "g/logs/parquet_export.log").read_text()
    assert ["queued"] == [w["publish"] for w in refused["written"]]
    assert "SignatureDoesNotMatch" in refused["publish"]["error"] or "403" in refused["publish"]["error"]
    assert 1 == len(refused["publish"]["error"].splitlines())
    assert "publish.retry_later" in log
    assert wrong not in log
    assert key["SecretAccessKey"] not in log
    assert 0 == accepted["publish"]["pending"]
    assert [KEY] == list(objects(s3, bucket))
    del iam


# ------------------------------------------------------------------------------------ small parts
@pytest.mark.parametrize(
    ("attempts", "low", "high"), [(1, 1.0, 1.25), (2, 2.0, 2.5), (5, 16.0, 20.0), (30, 300.0, 375.0)]
)
def test_backoff_doubles_to_a_cap(attempts: int, low: float, high: float) -> None:
    """The outbox waits 1, 2, 4 ... s after each failure, at most 5 min, plus up to 25% jitter."""
    assert (low, high) == (backoff(attempts, lambda: 0.0), backoff(attempts, lambda: 1.0))


def test_output_url_refuses_credentials_and_odd_schemes(root: Path) -> None:
    """An output_url carrying a key, or an unknown scheme, is a one-line config error that echoes no secret."""
    from daemon.errors import ConfigError

    with pytest.raises(ConfigError) as refused:
        resolve({"root": root, "output_url": "s3://AKIA:topsecret@bucket/p"}, env={})
    assert "topsecret" not in str(refused.value)
    with pytest.raises(ConfigError, match="not ftp://"):
        resolve({"root": root, "output_url": "ftp://host/p"}, env={})
    with pytest.raises(ConfigError, match="fleet_host"):
        resolve({"root": root, "fleet_host": "a/b"}, env={})


def test_daemon_keeps_converting_while_the_store_is_down_and_publishes_when_it_is_back(
    root: Path, fleet: str, s3: S3Server, write_daily: WriteCsv
) -> None:
    """The daemon converts files that arrive while the store is stopped, and its loop publishes them (with
    back-off) once the store is back, with no sweep in between."""
    from daemon.service.loop import Service
    from tests.test_service import ScriptedSource

    settings = resolve(
        {"root": root, "settle_seconds": 0.05, "heartbeat_seconds": 0.1, "nice": 0, "retry_max_wait_seconds": 0.01}
    )
    source = ScriptedSource()
    service = Service(settings, source=source)
    worker = threading.Thread(target=service.run, daemon=True)
    s3.stop()
    try:
        worker.start()
        assert source.started.wait(30)
        for day in ("20260113", "20260114"):
            source.push(write_daily(day))
        deadline = time.monotonic() + 60
        while service.counters.written < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert service.publisher is not None
        queued = service.publisher.pending_count()
    finally:
        s3.start()
    deadline = time.monotonic() + 60
    while service.publisher.pending_count() and time.monotonic() < deadline:
        time.sleep(0.1)
    left = service.publisher.pending_count()
    service.request_stop()
    worker.join(30)
    assert (2, 2) == (service.counters.written, queued)
    assert 0 == left
    assert 2 == len(objects(s3, fleet))


def test_reconcile_finds_missing_outdated_and_orphaned_with_one_listing_per_month(
    root: Path, tmp_path: Path, write_daily: WriteCsv, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Against a folder target, reconciliation queues a missing and an outdated object, reports an orphan,
    and lists each month folder once."""
    shared = tmp_path / "shared"
    monkeypatch.setenv("PARQUET_EXPORTER_OUTPUT_URL", str(shared))
    monkeypatch.setenv("PARQUET_EXPORTER_FLEET_HOST", "alpha")
    for day in ("20260114", "20260115", "20260201"):
        write_daily(day)
    assert 0 == call_main("export", "--historical", "--root", root).code
    january = shared / "query_perf/host=alpha/year=2026/month=01"
    (january / "query_perf_20260114.parquet").unlink()
    outdated = january / "query_perf_20260115.parquet"
    pl.DataFrame({"x": [1]}).write_parquet(outdated)  # someone else's bytes: not what this host published
    (january / "query_perf_20251231.parquet").write_bytes(b"PAR1")
    settings = settings_for(root)
    with State(settings.state_path / "state.db") as state:
        found = Publisher(settings, state).reconcile()
        drained = Publisher(settings, state).drain(force=True)
    assert 2 == found.listings
    assert ["query_perf/host=alpha/year=2026/month=01/query_perf_20260114.parquet"] == found.missing
    assert ["query_perf/host=alpha/year=2026/month=01/query_perf_20260115.parquet"] == found.outdated
    assert ["query_perf/host=alpha/year=2026/month=01/query_perf_20251231.parquet"] == found.orphaned
    assert (1, 1) == (drained.created, drained.replaced)
    assert (
        settings.output_path.joinpath(
            "query_perf/host=alpha/year=2026/month=01/query_perf_20260115.parquet"
        ).read_bytes()
        == outdated.read_bytes()
    )
