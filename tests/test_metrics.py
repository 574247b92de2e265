"""Prometheus metrics: the families, the listener, the textfile, promtool, and the Grafana dashboard."""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import shutil
import socket
import subprocess
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from prometheus_client.parser import text_string_to_metric_families
from structlog.testing import capture_logs

from daemon import __version__
from daemon.errors import ConfigError
from daemon.service.loop import Service
from daemon.service.metrics import Metrics
from daemon.settings import Settings, resolve
from daemon.specs import DATASETS
from daemon.state.database import State
from tests import daemonproc, gen
from tests.conftest import HEADER, WriteCsv, daily_rows
from tests.daemonproc import OUTPUT, DaemonProcess, Processes, cli, daemon_env, wait_until

DASHBOARD = Path(__file__).resolve().parents[1] / "config" / "grafana-dashboard.json"
PROMTOOL = shutil.which("promtool")
needs_promtool = pytest.mark.skipif(
    PROMTOOL is None, reason="promtool not found (Debian package `prometheus`; scripts/test installs it as root)"
)
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


# ------------------------------------------------------------------------------------- helpers
def parse(text: str) -> Samples:
    """Every sample of an exposition text, parsed with prometheus_client's own parser, by (name, labels)."""
    samples: Samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            key = (sample.name, frozenset(sample.labels.items()))
            assert key not in samples, f"duplicate sample {key}"
            samples[key] = sample.value
    return samples


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples[(name, frozenset(labels.items()))]


def free_port(host: str = "127.0.0.1") -> int:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def scrape(address: str) -> str:
    with urllib.request.urlopen(f"http://{address}/metrics", timeout=5) as response:
        text: str = response.read().decode("utf-8")
        return text


def promtool(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    assert PROMTOOL is not None
    return subprocess.run([PROMTOOL, *args], input=stdin, capture_output=True, text=True, timeout=60, check=False)


def exported_names(metrics: Metrics) -> set[str]:
    """The sample names the daemon's own registry exports (histogram `_bucket`, counter `_total`, ...)."""
    return {sample.name for family in metrics.registry.collect() for sample in family.samples}


def on_disk(root: Path) -> dict[str, dict[str, int]]:
    """Per dataset, what its Parquet files hold: files, rows and bytes of outputs and of rejects."""
    found: dict[str, dict[str, int]] = {}
    for spec in DATASETS:
        outputs = sorted((root / OUTPUT / spec.name).rglob("*.parquet"))
        rejects = sorted((root / OUTPUT / "_rejects" / spec.name).rglob("*.parquet"))
        found[spec.name] = {
            "files": len(outputs),
            "rows": sum(pl.read_parquet(p).height for p in outputs),
            "bytes": sum(p.stat().st_size for p in outputs),
            "rejected": sum(pl.read_parquet(p).height for p in rejects),
            "reject_bytes": sum(p.stat().st_size for p in rejects),
        }
    return found


def assert_counters_match_disk(samples: Samples, root: Path, source_bytes: dict[str, int]) -> None:
    """Rows, bytes, written exports and storage of every dataset are what its Parquet files hold."""
    disk = on_disk(root)
    for dataset, held in disk.items():
        assert held["files"] == value(samples, "parquet_exporter_exports_total", dataset=dataset, outcome="written")
        assert held["rows"] == value(samples, "parquet_exporter_rows_total", dataset=dataset, kind="written")
        assert held["rejected"] == value(samples, "parquet_exporter_rows_total", dataset=dataset, kind="rejected")
        assert held["bytes"] == value(samples, "parquet_exporter_parquet_bytes_total", dataset=dataset)
        assert source_bytes.get(dataset, 0) == value(samples, "parquet_exporter_source_bytes_total", dataset=dataset)
        storage = held["bytes"] + held["reject_bytes"]
        assert storage == value(samples, "parquet_exporter_storage_bytes", dataset=dataset)


def move_in(staged: Path, target: Path) -> None:
    """Put a report in place the way producers should: a dot-named temporary beside it, then a rename."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.part")
    shutil.copyfile(staged, tmp)
    os.replace(tmp, target)


def with_rejects(key: str) -> bytes:
    """A query_perf daily CSV of five good rows and one whose execution_time_ms is not a number."""
    day = dt.datetime.strptime(key, "%Y%m%d").date()
    rows = daily_rows(day, 5)
    bad = rows[0].split(",")
    bad[3] = "oops"
    return ("\n".join([HEADER, *rows, ",".join(bad)]) + "\n").encode()


# ------------------------------------------------------------------------------------- families
EXPECTED_FAMILIES = {
    # name as parsed (counters without `_total`), type, label names
    "parquet_exporter_exports": ("counter", ("dataset", "outcome")),
    "parquet_exporter_rows": ("counter", ("dataset", "kind")),
    "parquet_exporter_source_bytes": ("counter", ("dataset",)),
    "parquet_exporter_parquet_bytes": ("counter", ("dataset",)),
    "parquet_exporter_export_duration_seconds": ("histogram", ("dataset",)),
    "parquet_exporter_freshness_seconds": ("histogram", ("dataset",)),
    "parquet_exporter_last_success_timestamp_seconds": ("gauge", ("dataset",)),
    "parquet_exporter_failing_inputs": ("gauge", ()),
    "parquet_exporter_pending_uploads": ("gauge", ()),
    "parquet_exporter_oldest_pending_seconds": ("gauge", ()),
    "parquet_exporter_sweep_duration_seconds": ("histogram", ()),
    "parquet_exporter_last_sweep_timestamp_seconds": ("gauge", ()),
    "parquet_exporter_storage_bytes": ("gauge", ("dataset",)),
    "parquet_exporter_build_info": ("gauge", ("version",)),
}


def test_families_have_the_issued_names_types_and_labels() -> None:
    """A new daemon's text holds exactly the issued families, each with its type and label names."""
    text = Metrics(Settings()).text().decode()
    found = {}
    for family in text_string_to_metric_families(text):
        labels = {name for s in family.samples for name in s.labels if name != "le"}
        found[family.name] = (family.type, tuple(sorted(labels)))
    assert {k: (t, tuple(sorted(ls))) for k, (t, ls) in EXPECTED_FAMILIES.items()} == found


def test_every_dataset_has_its_series_before_any_export() -> None:
    """Every dataset x outcome, dataset x kind and per-dataset series exists, at 0, before anything happened."""
    samples = parse(Metrics(Settings()).text().decode())
    for spec in DATASETS:
        for outcome in ("written", "skipped", "failed"):
            assert 0 == value(samples, "parquet_exporter_exports_total", dataset=spec.name, outcome=outcome)
        for kind in ("written", "rejected"):
            assert 0 == value(samples, "parquet_exporter_rows_total", dataset=spec.name, kind=kind)
        assert 0 == value(samples, "parquet_exporter_freshness_seconds_count", dataset=spec.name)
        assert 0 == value(samples, "parquet_exporter_export_duration_seconds_count", dataset=spec.name)
        assert 0 == value(samples, "parquet_exporter_storage_bytes", dataset=spec.name)
    assert 1 == value(samples, "parquet_exporter_build_info", version=__version__)
    assert not [name for name, _ in samples if name.endswith("_created")]


# ------------------------------------------------------------------------------------- settings
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("127.0.0.1:9464", "127.0.0.1:9464"),
        ("[::1]:9464", "[::1]:9464"),
        ("0.0.0.0:65535", "0.0.0.0:65535"),
        ("", ""),
    ],
)
def test_metrics_address_accepts_ip_and_port(text: str, expected: str) -> None:
    """PARQUET_EXPORTER_METRICS_ADDRESS takes IPv4:PORT and [IPv6]:PORT; empty means off."""
    assert expected == resolve({}, env={"PARQUET_EXPORTER_METRICS_ADDRESS": text}).metrics_address


@pytest.mark.parametrize(
    "text", ["localhost:9464", "::1:9464", "127.0.0.1", "127.0.0.1:0", "127.0.0.1:70000", "[127.0.0.1]:9464", ":9464"]
)
def test_metrics_address_rejects_anything_else(text: str) -> None:
    """A host name, an unbracketed IPv6, a missing or out-of-range port: ConfigError naming the value."""
    with pytest.raises(ConfigError, match=re.escape(repr(text))):
        resolve({}, env={"PARQUET_EXPORTER_METRICS_ADDRESS": text})


def test_metrics_textfile_must_be_a_prom_file() -> None:
    """node_exporter's textfile collector reads only `*.prom`: any other name is a ConfigError."""
    with pytest.raises(ConfigError, match=r"\.prom"):
        resolve({}, env={"PARQUET_EXPORTER_METRICS_TEXTFILE": "metrics/exporter.txt"})


# ------------------------------------------------------------------------------------- in-process
@pytest.fixture
def started(tmp_path: Path) -> Iterator[Callable[[str], Metrics]]:
    """Start a Metrics listener on the given address over an empty state; stopped at teardown."""
    made: list[tuple[Metrics, State]] = []

    def start(address: str) -> Metrics:
        metrics = Metrics(resolve({"root": tmp_path, "metrics_address": address}, env={}))
        state = State(tmp_path / "state.db")
        made.append((metrics, state))
        metrics.start(state)
        return metrics

    yield start
    for metrics, state in made:
        metrics.stop()
        state.close()


def test_listener_binds_where_told_and_nowhere_else(started: Callable[[str], Metrics]) -> None:
    """Told 127.0.0.1:P, the listener serves there, and 127.0.0.2:P (loopback too) is refused."""
    port = free_port()
    started(f"127.0.0.1:{port}")
    assert "parquet_exporter_build_info" in scrape(f"127.0.0.1:{port}")
    with pytest.raises(ConnectionRefusedError), socket.create_connection(("127.0.0.2", port), timeout=5):
        pass


def test_listener_serves_ipv6_loopback(started: Callable[[str], Metrics]) -> None:
    """Told [::1]:P, the listener serves /metrics over IPv6 loopback."""
    if not socket.has_ipv6:
        pytest.skip("this Python has no IPv6")
    try:
        port = free_port("::1")
    except OSError as exc:
        pytest.skip(f"IPv6 loopback unavailable here: {exc}")
    started(f"[::1]:{port}")
    assert "parquet_exporter_build_info" in scrape(f"[::1]:{port}")


def test_freshness_counts_from_the_sources_mtime(fast_settings: Settings, write_daily: WriteCsv) -> None:
    """A report last modified an hour ago lands in freshness's (3600, 14400] bucket, its sum about 3600 s."""
    path = write_daily("20251028")
    hour_ago = time.time() - 3600
    os.utime(path, (hour_ago, hour_ago))
    service = Service(fast_settings)
    service.run(once=True)
    samples = parse(service.metrics.text().decode())
    bucket = "parquet_exporter_freshness_seconds_bucket"
    assert 0 == value(samples, bucket, dataset="query_perf", le="3600.0")
    assert 1 == value(samples, bucket, dataset="query_perf", le="14400.0")
    assert 3600 == pytest.approx(value(samples, "parquet_exporter_freshness_seconds_sum", dataset="query_perf"), abs=60)


def test_state_seeds_last_success_and_failing_inputs(fast_settings: Settings, write_daily: WriteCsv) -> None:
    """After a restart, last success comes from the state's newest output and failing inputs from its failures."""
    write_daily("20251027")
    write_daily("20251028", ["not,a,valid,row"], header="a,b,c,d")
    Service(fast_settings).run(once=True)
    with State(fast_settings.state_path / "state.db") as state:
        [output] = state.outputs()
        exported = dt.datetime.fromisoformat(output.exported_at.replace("Z", "+00:00")).timestamp()
        metrics = Metrics(fast_settings)
        metrics.start(state)
        metrics.stop()
    samples = parse(metrics.text().decode())
    assert exported == value(samples, "parquet_exporter_last_success_timestamp_seconds", dataset="query_perf")
    assert 1 == value(samples, "parquet_exporter_failing_inputs")
    assert 0 == value(samples, "parquet_exporter_exports_total", dataset="query_perf", outcome="written")


# ------------------------------------------------------------------------------------- textfile
def test_textfile_holds_the_registry_text_and_matches_the_parquet(
    small_root: gen.GeneratedRoot, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`run --once` with metrics_textfile leaves exactly one .prom file beside nothing else, holding the
    daemon's text, whose row and byte counters equal the Parquet files'."""
    root = small_root.root
    source_bytes: dict[str, int] = {}
    for expected in small_root.outputs:
        source_bytes[expected.dataset] = source_bytes.get(expected.dataset, 0) + (root / expected.source).stat().st_size
    settings = resolve(
        {"root": root, "nice": 0, "metrics_textfile": "g/metrics/parquet_exporter.prom"},
        env={},
    )
    service = Service(settings)
    counters = service.run(once=True)
    assert len(small_root.outputs) == counters.written
    folder = root / "g" / "metrics"
    assert ["parquet_exporter.prom"] == sorted(p.name for p in folder.iterdir())
    text = (folder / "parquet_exporter.prom").read_bytes()
    assert service.metrics.text() == text
    samples = parse(text.decode())
    assert_counters_match_disk(samples, root, source_bytes)
    assert 1 == value(samples, "parquet_exporter_sweep_duration_seconds_count")
    assert time.time() - value(samples, "parquet_exporter_last_sweep_timestamp_seconds") < 60


def test_textfile_that_cannot_be_written_is_logged_once_and_exports_go_on(
    fast_settings: Settings, write_daily: WriteCsv
) -> None:
    """A textfile under a regular file cannot be written: one `metrics.textfile_failed`, the exports still done."""
    (fast_settings.root / "blocker").write_text("a file, not a folder")
    settings = resolve({"root": fast_settings.root, "nice": 0, "metrics_textfile": "blocker/m.prom"}, env={})
    write_daily("20251027")
    write_daily("20251028")
    with capture_logs() as logs:
        counters = Service(settings).run(once=True)
    assert 2 == counters.written
    assert 1 == len([e for e in logs if e["event"] == "metrics.textfile_failed"])


# ------------------------------------------------------------------------------------- a real daemon
def start_with_metrics(processes: Processes, root: Path, address: str) -> DaemonProcess:
    """The real daemon on `root` serving /metrics at `address`, once its start-up sweep is done."""
    proc = daemonproc.start_daemon(processes, root, {"PARQUET_EXPORTER_METRICS_ADDRESS": address})
    proc.wait_ready()
    return proc


@pytest.mark.slow
def test_scraped_counters_equal_what_was_exported(root: Path, processes: Processes, tmp_path: Path) -> None:
    """Scraped while reports arrive, /metrics always parses and never goes back; at the end its row, byte,
    export and storage figures equal the Parquet files', and the failed input is counted and failing."""
    staging = gen.build_root(
        tmp_path / "staging", seed=5, first=dt.date(2025, 12, 29), last=dt.date(2026, 1, 2), rows_per_day=(5, 12)
    )
    arrivals = [Path(e.source) for e in staging.outputs]
    source_bytes: dict[str, int] = {}
    for expected in staging.outputs:
        size = (staging.root / expected.source).stat().st_size
        source_bytes[expected.dataset] = source_bytes.get(expected.dataset, 0) + size
    rejects = with_rejects("20251028")
    source_bytes["query_perf"] += len(rejects)
    (root / "g/reports/query_perf_daily_20251028.csv").write_bytes(rejects)
    for relative in arrivals[:3]:  # some before the start (the start-up sweep), the rest while it runs
        move_in(staging.root / relative, root / relative)

    address = f"127.0.0.1:{free_port()}"
    proc = start_with_metrics(processes, root, address)
    previous: Samples = {}
    for relative in [*arrivals[3:], None]:
        if relative is None:
            bad = root / "g/reports/query_perf_daily_20251027.csv"
            bad.write_text("a,b,c\n1,2,3\n")  # no required column: fails
        else:
            move_in(staging.root / relative, root / relative)
        now = parse(scrape(address))
        for key, before in previous.items():
            if key[0].endswith(("_total", "_count", "_sum", "_bucket")):
                assert now[key] >= before, f"{key} went back from {before} to {now[key]}"
        previous = now
        time.sleep(0.1)

    written = len(staging.outputs) + 1

    def settled() -> Samples | None:
        samples = parse(scrape(address))
        done = sum(
            value(samples, "parquet_exporter_exports_total", dataset=d.name, outcome="written") for d in DATASETS
        )
        failed = value(samples, "parquet_exporter_exports_total", dataset="query_perf", outcome="failed")
        return samples if (done, failed) == (written, 1) else None

    samples: Samples = wait_until(settled, 60, f"{written} written exports and 1 failure on /metrics", step=0.2)
    assert_counters_match_disk(samples, root, source_bytes)
    assert 1 == value(samples, "parquet_exporter_rows_total", dataset="query_perf", kind="rejected")
    assert 1 == value(samples, "parquet_exporter_failing_inputs")
    for spec in DATASETS:
        files = on_disk(root)[spec.name]["files"]
        assert files == value(samples, "parquet_exporter_freshness_seconds_count", dataset=spec.name)
        assert files == value(samples, "parquet_exporter_export_duration_seconds_count", dataset=spec.name)
        assert value(samples, "parquet_exporter_last_success_timestamp_seconds", dataset=spec.name) > 0
    assert 0 == proc.stop()


@needs_promtool
def test_scraped_metrics_pass_promtool(root: Path, processes: Processes, write_daily: WriteCsv) -> None:
    """`promtool check metrics` finds nothing to say about a live daemon's /metrics after an export."""
    write_daily("20251028", [*daily_rows(dt.date(2025, 10, 28)), "bad,row"])
    address = f"127.0.0.1:{free_port()}"
    proc = start_with_metrics(processes, root, address)
    text = scrape(address)
    assert 1 == value(parse(text), "parquet_exporter_exports_total", dataset="query_perf", outcome="written")
    checked = promtool("check", "metrics", stdin=text)
    assert (0, "", "") == (checked.returncode, checked.stdout, checked.stderr)
    assert 0 == proc.stop()


@pytest.mark.parametrize("problem", ["in-use", "not-here", "malformed"])
def test_run_with_an_unusable_metrics_address_is_one_line_and_exit_2(root: Path, problem: str) -> None:
    """A port in use, an address not on this host, or a malformed one: `run` exits 2 with one line naming it."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        address = {
            "in-use": f"127.0.0.1:{taken.getsockname()[1]}",
            "not-here": "192.0.2.1:9464",  # TEST-NET-1: never an address of this host
            "malformed": "localhost:9464",
        }[problem]
        done = subprocess.run(
            cli("run", "--root", str(root)),
            cwd=root,
            env=daemon_env({"PARQUET_EXPORTER_METRICS_ADDRESS": address}),
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    assert 2 == done.returncode
    [line] = done.stderr.splitlines()
    # a malformed value is refused with the settings, naming the variable it came from
    assert line.startswith(("error: metrics_address ", "error: PARQUET_EXPORTER_METRICS_ADDRESS: metrics_address ")), (
        line
    )
    assert address in line
    reason = {"in-use": "Address already in use", "not-here": "Cannot assign requested address", "malformed": "IP:PORT"}
    assert reason[problem] in line


# ------------------------------------------------------------------------------------- dashboard
def dashboard() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    return loaded


def walk(node: Any) -> Iterator[tuple[str, Any]]:
    """Every (key, value) pair anywhere in a JSON document."""
    if isinstance(node, dict):
        for key, child in node.items():
            yield key, child
            yield from walk(child)
    elif isinstance(node, list):
        for child in node:
            yield from walk(child)


def expressions() -> list[str]:
    return [v for k, v in walk(dashboard()) if k == "expr"]


def as_promql(expr: str) -> str:
    """A dashboard expression with Grafana's variables replaced as Grafana would: ranges and `.*` for All."""
    expr = re.sub(r"\$__(rate_interval|interval|range)", "5m", expr)
    return re.sub(r"\$\{?\w+\}?", ".*", expr)


KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "bool", "and", "or", "unless", "offset"}


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression selects: identifiers that are not functions, keywords, labels,
    strings, numbers or durations."""
    expr = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)  # strings
    expr = re.sub(r"\{[^}]*\}", "", expr)  # label matchers
    expr = re.sub(r"\[[^\]]*\]", "", expr)  # ranges
    expr = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", "", expr)  # label lists
    names = set()
    for match in re.finditer(r"(?<![\w.])([a-zA-Z_:][\w:]*)\s*(\()?", expr):
        if match.group(2) is None and match.group(1) not in KEYWORDS:
            names.add(match.group(1))
    return names


def test_dashboard_imports_with_a_prometheus_datasource_input() -> None:
    """The dashboard declares the DS_PROMETHEUS input, and every panel and target uses it."""
    document = dashboard()
    assert [("DS_PROMETHEUS", "datasource", "prometheus")] == [
        (i["name"], i["type"], i["pluginId"]) for i in document["__inputs"]
    ]
    sources = [v for k, v in walk(document) if k == "datasource"]
    assert sources, "no datasource anywhere"
    assert [{"type": "prometheus", "uid": "${DS_PROMETHEUS}"}] * len(sources) == sources


def test_dashboard_covers_freshness_throughput_failures_compression_storage() -> None:
    """Each of the issue's views has a panel over its metric."""
    used = set().union(*(metric_names(as_promql(e)) for e in expressions()))
    wanted = {
        "freshness": "parquet_exporter_freshness_seconds_bucket",
        "throughput": "parquet_exporter_rows_total",
        "failures": "parquet_exporter_failing_inputs",
        "compression": "parquet_exporter_parquet_bytes_total",
        "storage": "parquet_exporter_storage_bytes",
    }
    assert {} == {view: name for view, name in wanted.items() if name not in used}


def test_dashboard_names_only_metrics_the_daemon_exports() -> None:
    """Every metric a dashboard expression or variable names is a sample name of the daemon's registry."""
    exported = exported_names(Metrics(Settings()))
    named = {e: metric_names(as_promql(e)) for e in expressions()}
    assert [] == [e for e, names in named.items() if not names], "an expression that selects no metric"
    for variable in dashboard()["templating"]["list"]:
        query = variable["query"]["query"]
        selected = re.fullmatch(r"label_values\((\w+), *\w+\)", query)
        assert selected is not None, query
        named[query] = {selected[1]}
    assert {} == {e: names - exported for e, names in named.items() if names - exported}


def test_metric_names_finds_selectors_only() -> None:
    """The name extraction keeps metric names and drops functions, labels, keywords, strings and ranges."""
    expr = 'sum by (le, dataset) (rate(a_total{x="y"}[5m])) / on (dataset) group_left b_bytes offset 5m > bool 0'
    assert {"a_total", "b_bytes"} == metric_names(expr)


@needs_promtool
def test_dashboard_expressions_pass_promtool_check_rules(tmp_path: Path) -> None:
    """Every dashboard expression, written as a recording rule, passes `promtool check rules`."""
    exprs = expressions()
    rules = {
        "groups": [
            {
                "name": "grafana-dashboard",
                "rules": [{"record": f"dashboard:expr_{i}", "expr": as_promql(e)} for i, e in enumerate(exprs)],
            }
        ]
    }
    path = tmp_path / "dashboard.rules.yml"
    path.write_text(json.dumps(rules, indent=2), encoding="utf-8")  # JSON is YAML
    checked = promtool("check", "rules", str(path))
    assert 0 == checked.returncode, checked.stdout + checked.stderr
    assert f"SUCCESS: {len(exprs)} rules found" in checked.stdout
