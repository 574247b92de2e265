"""The systemd unit: the rendered template verifies with systemd-analyze and its ExecStart really starts the daemon;
scripts/install-systemd and scripts/install-launchd stop in one line, creating nothing, where there is no manager."""

from __future__ import annotations

import os
import shlex
import shutil
import signal
import subprocess
from collections import defaultdict
from pathlib import Path

import pytest

from daemon.cli.systemd import PROJECT_DIR, TEMPLATE, UNIT, main, render_unit, unit_path, watchdog_seconds
from daemon.settings import Settings
from tests.daemonproc import Processes, clean_env, wait_until
from tests.test_notify import Listener

EXECUTABLE = PROJECT_DIR / ".venv" / "bin" / "parquet-exporter"
SYSTEMD_ANALYZE = shutil.which("systemd-analyze")
needs_systemd_analyze = pytest.mark.skipif(
    SYSTEMD_ANALYZE is None, reason="systemd-analyze is missing (Debian package systemd; scripts/test installs it)"
)


def directives(unit: str) -> dict[str, list[str]]:
    """The unit's settings as "Section.Key" -> every value given, comments and blank lines left out."""
    found: dict[str, list[str]] = defaultdict(list)
    section = ""
    for line in unit.splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        if line.startswith("["):
            section = line.strip("[]")
            continue
        key, value = line.split("=", 1)
        found[f"{section}.{key}"].append(value)
    return dict(found)


def words(value: str) -> list[str]:
    """A command line or a list as systemd splits it (quotes, backslash escapes, %% and $$ undone)."""
    return shlex.split(value.replace("%%", "%").replace("$$", "$"))


def verify(unit: str, folder: Path, scope: str = "system") -> subprocess.CompletedProcess[str]:
    """`systemd-analyze [--user] verify` on `unit` saved as parquet-exporter.service in `folder`."""
    assert SYSTEMD_ANALYZE is not None
    path = folder / UNIT
    path.write_text(unit, encoding="utf-8")
    runtime = folder / "runtime"
    runtime.mkdir(mode=0o700, exist_ok=True)
    env = {**os.environ, "XDG_RUNTIME_DIR": str(runtime)}  # the user manager's runtime folder, absent in CI
    command = [SYSTEMD_ANALYZE, *(["--user"] if scope == "user" else []), "verify", str(path)]
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=60, check=False)


def test_template_names_its_placeholders_and_the_settings() -> None:
    """The committed template carries the sandboxing and service settings the issue asks for, and its placeholders."""
    text = TEMPLATE.read_text(encoding="utf-8")
    found = directives(text)
    expected = {
        "Service.Type": ["notify"],
        "Service.Restart": ["on-failure"],
        "Service.IOSchedulingClass": ["idle"],
        "Service.NoNewPrivileges": ["yes"],
        "Service.ProtectSystem": ["strict"],
        "Service.PrivateTmp": ["yes"],
        "Service.WatchdogSec": ["@WATCHDOG_SEC@"],
        "Service.ReadWritePaths": ["@READ_WRITE_PATHS@"],
        "Service.ExecStart": ["@EXEC_START@"],
    }
    assert expected == {key: found.get(key) for key in expected}


def test_render_points_at_this_project_and_root(root: Path) -> None:
    """ExecStart runs this project's parquet-exporter `run` for the root (real absolute paths); the root is writable."""
    found = directives(render_unit(root))
    [exec_start] = found["Service.ExecStart"]
    assert [str(EXECUTABLE), "run", "--root", str(root.resolve())] == words(exec_start)
    assert [str(root.resolve())] == found["Service.WorkingDirectory"]
    assert [str(root.resolve())] == words(found["Service.ReadWritePaths"][0])
    assert ["default.target"] == found["Install.WantedBy"]
    assert "Service.User" not in found
    assert "Service.Environment" in found
    assert [] == [line for line in render_unit(root).splitlines() if "@" in line and not line.startswith("#")]


def test_watchdog_and_nice_follow_the_settings(
    root: Path, tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """WatchdogSec holds a dozen heartbeats (at least 60 s), Nice is `nice`, a config is passed on to the service."""
    assert (60, 60, 240) == (
        watchdog_seconds(Settings().heartbeat_seconds),
        watchdog_seconds(0.2),
        watchdog_seconds(20),
    )
    state = tmp_path_factory.mktemp("elsewhere") / "state"  # outside the root
    config = tmp_path / "exporter.toml"
    config.write_text(f'[parquet_exporter]\nheartbeat_seconds = 20\nnice = 5\nstate_dir = "{state}"\n')
    found = directives(render_unit(root, config=config))
    assert (["240"], ["5"]) == (found["Service.WatchdogSec"], found["Service.Nice"])
    assert [str(root.resolve()), f"-{state}"] == words(found["Service.ReadWritePaths"][0])
    assert f"PARQUET_EXPORTER_CONFIG={config.resolve()}" == words(found["Service.Environment"][-1])[0]


def test_system_scope_runs_as_the_roots_owner(root: Path) -> None:
    """--system renders WantedBy=multi-user.target and User=/Group= of the root's owner (here: nobody)."""
    if os.geteuid() != 0:
        pytest.skip("giving the root to another user needs root")
    os.chown(root, 65534, 65534)
    found = directives(render_unit(root, scope="system"))
    assert ["multi-user.target"] == found["Install.WantedBy"]
    assert ["nobody"] == found["Service.User"]
    assert 1 == len(found["Service.Group"])


def test_render_cli(root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`python -m daemon.cli.systemd` prints the unit; a root that does not exist is one line and exit 2."""
    assert 0 == main(["--root", str(root)])
    assert render_unit(root) == capsys.readouterr().out
    assert 2 == main(["--root", str(root / "missing")])
    assert 1 == len(capsys.readouterr().err.splitlines())
    assert 0 == main(["--path", "--scope", "system"])
    assert f"/etc/systemd/system/{UNIT}\n" == capsys.readouterr().out
    assert Path("/x/systemd/user") / UNIT == unit_path("user", {"XDG_CONFIG_HOME": "/x"})


@needs_systemd_analyze
@pytest.mark.parametrize("scope", ["user", "system"])
def test_systemd_analyze_verifies_the_rendered_unit(tmp_path: Path, scope: str) -> None:
    """`systemd-analyze verify` passes without a word on the unit rendered for a root path with ' ', '%' and '$'."""
    root = tmp_path / "ops repo 100% $HOME"
    (root / "g").mkdir(parents=True)
    folder = tmp_path / "units"
    folder.mkdir()
    done = verify(render_unit(root, scope="system" if scope == "system" else "user"), folder, scope)
    assert (0, "", "") == (done.returncode, done.stdout, done.stderr)


@needs_systemd_analyze
def test_systemd_analyze_catches_a_broken_unit(root: Path, tmp_path: Path) -> None:
    """The check can fail: verify complains about a misspelt key and a bad Nice in an otherwise rendered unit."""
    broken = render_unit(root).replace("PrivateTmp=", "PrivateTemp=").replace("Nice=10", "Nice=ten")
    done = verify(broken, tmp_path)
    assert "PrivateTemp" in done.stderr
    assert "ten" in done.stderr


@pytest.mark.slow
def test_exec_start_starts_the_daemon_which_notifies(tmp_path: Path, processes: Processes) -> None:
    """Run as systemd would (ExecStart in WorkingDirectory, NOTIFY_SOCKET set): READY=1, then STOPPING=1 on SIGTERM."""
    abstract_listener = Listener(f"@parquet-exporter-test-{os.getpid()}-{id(tmp_path)}")
    try:
        root = tmp_path / "ops repo 100% $HOME"
        (root / "g" / "reports").mkdir(parents=True)
        found = directives(render_unit(root))
        env = clean_env({"NOTIFY_SOCKET": abstract_listener.name, "PYTHONUNBUFFERED": "1"})
        proc = processes.popen(
            words(found["Service.ExecStart"][0]),
            cwd=found["Service.WorkingDirectory"][0].replace("%%", "%"),
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        ready = wait_until(lambda: abstract_listener.first("READY", "1"), 30, "READY=1 from the unit's ExecStart")
        assert str(proc.pid) == ready["MAINPID"]
        assert f"watching {root}; start-up sweep running" == ready["STATUS"]
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=15)
        assert 0 == proc.returncode
        assert abstract_listener.first("STOPPING", "1") is not None
        assert b'"event": "daemon.stopped"' in stderr.splitlines()[-1]
    finally:
        abstract_listener.sock.close()


# -------------------------------------------------------------------------------------- install scripts
def tool_path(tmp_path: Path, *tools: str) -> str:
    """A PATH of one folder holding only `tools` (links to the real ones): a host without systemctl or launchctl."""
    folder = tmp_path / "bin"
    folder.mkdir(exist_ok=True)
    for tool in tools:
        real = shutil.which(tool)
        assert real is not None, tool
        (folder / tool).symlink_to(real)
    return str(folder)


def run_script(name: str, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(PROJECT_DIR / "scripts" / name), *args], capture_output=True, text=True, env=env, timeout=300, check=False
    )


def created_under(home: Path) -> list[Path]:
    return sorted(home.rglob("*"))


def test_install_systemd_print_installs_nothing(root: Path, tmp_path: Path) -> None:
    """`install-systemd --print --user` prints the rendered unit and creates no unit folder."""
    config_home = tmp_path / "config"
    env = {**os.environ, "XDG_CONFIG_HOME": str(config_home)}
    done = run_script("install-systemd", "--print", "--user", "--root", str(root), env=env)
    assert (0, render_unit(root)) == (done.returncode, done.stdout)
    assert not config_home.exists()


@pytest.mark.parametrize("args", [(), ("--uninstall",), ("--user",), ("--system", "--uninstall")])
def test_install_systemd_without_systemctl(root: Path, tmp_path: Path, args: tuple[str, ...]) -> None:
    """Where systemctl does not exist, install-systemd says so in one line, exits 1 and creates nothing."""
    home = tmp_path / "home"
    home.mkdir()
    env = {"HOME": str(home), "PATH": tool_path(tmp_path, "bash", "dirname", "id")}
    done = run_script("install-systemd", "--root", str(root), *args, env=env)
    assert (1, "") == (done.returncode, done.stdout)
    assert 1 == len(done.stderr.splitlines()), done.stderr
    assert "systemctl not found" in done.stderr
    assert [] == created_under(home)


def test_install_systemd_without_a_manager(root: Path, tmp_path: Path) -> None:
    """Where systemctl exists but no manager answers (a container), install-systemd says so in one line, exit 1."""
    if shutil.which("systemctl") is None:
        pytest.skip("systemctl is missing here (the no-systemctl case is tested above)")
    probe = subprocess.run(["systemctl", "--user", "show-environment"], capture_output=True, check=False, timeout=30)
    if probe.returncode == 0:
        pytest.skip("a systemd user manager answers here: installing for real is not a test's business")
    home = tmp_path / "home"
    home.mkdir()
    done = run_script("install-systemd", "--user", "--root", str(root), env={**os.environ, "HOME": str(home)})
    assert (1, "") == (done.returncode, done.stdout)
    assert 1 == len(done.stderr.splitlines()), done.stderr
    assert "no systemd user manager" in done.stderr
    assert [] == created_under(home)


@pytest.mark.parametrize("args", [(), ("--uninstall",)])
def test_install_launchd_without_launchctl(root: Path, tmp_path: Path, args: tuple[str, ...]) -> None:
    """Where launchctl does not exist, install-launchd says so in one line, exits 1 and creates nothing."""
    home = tmp_path / "home"
    home.mkdir()
    env = {"HOME": str(home), "PATH": tool_path(tmp_path, "bash", "dirname", "id")}
    done = run_script("install-launchd", "--root", str(root), *args, env=env)
    assert (1, "") == (done.returncode, done.stdout)
    assert 1 == len(done.stderr.splitlines()), done.stderr
    assert done.stderr.startswith("install-launchd: launchctl not found")
    assert [] == created_under(home)
    assert not (root / "g" / "logs").exists()


def test_install_launchd_uninstall_of_nothing_is_not_a_success(root: Path, tmp_path: Path) -> None:
    """With launchctl present but no job installed, `--uninstall` exits 1 saying so, and calls launchctl not once."""
    home = tmp_path / "home"
    home.mkdir()
    path = tool_path(tmp_path, "bash", "dirname", "id")
    calls = tmp_path / "launchctl-calls"
    launchctl = Path(path) / "launchctl"
    launchctl.write_text(f'#!/bin/bash\necho "$@" >> "{calls}"\n')  # stands in for macOS's launchctl
    launchctl.chmod(0o755)
    done = run_script("install-launchd", "--uninstall", env={"HOME": str(home), "PATH": path})
    assert (1, "") == (done.returncode, done.stdout)
    assert "is not installed" in done.stderr
    assert not calls.exists()
    assert [] == created_under(home)
