"""`make ui` and `make demo` hand the runs the addresses `make ui` serves (issue 28, point 7):
the mails' run links went to port 3000 whatever PORT was given, and the demo's report had no
link. The targets run for real, from a stand-in virtualenv whose programs record their
environment instead of serving."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
RECORDING = """#!/bin/sh
# Written whole, then renamed: a record is never seen half-written (the recipe's trap may kill
# a program mid-write once the webserver has returned).
env > "$RECORD_DIR/{name}.part" && mv "$RECORD_DIR/{name}.part" "$RECORD_DIR/{name}.env"
"""
WEBSERVER = """#!/bin/sh
# The daemon starts in the background first: wait for its record, or the recipe's trap kills it.
for _ in $(seq 100); do [ -f "$RECORD_DIR/dagster-daemon.env" ] && break; sleep 0.05; done
env > "$RECORD_DIR/dagster-webserver.part"
mv "$RECORD_DIR/dagster-webserver.part" "$RECORD_DIR/dagster-webserver.env"
"""


def stand_in_venv(folder: Path) -> Path:
    """A virtualenv `make` takes as installed, whose programs only record their environment."""
    bin_dir = folder / "bin"
    bin_dir.mkdir(parents=True)
    scripts = {name: RECORDING.format(name=name) for name in ("python", "carrier-opt")}
    scripts["dagster-daemon"] = RECORDING.format(name="dagster-daemon")
    scripts["dagster-webserver"] = WEBSERVER
    for name, text in scripts.items():
        (bin_dir / name).write_text(text)
        (bin_dir / name).chmod(0o755)
    stamp = folder / ".installed"
    stamp.touch()
    later = time.time() + 60  # newer than pyproject.toml and bin/python: nothing to install
    os.utime(stamp, (later, later))
    return folder


def run_make(target: str, tmp_path: Path, *settings: str) -> dict[str, dict[str, str]]:
    """``make TARGET`` against the stand-in virtualenv; each program's recorded environment."""
    records = tmp_path / "records"
    records.mkdir()
    venv = stand_in_venv(tmp_path / "venv")
    environment = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("CARRIER_OPT_", "MAKE", "DAGSTER_"))
    }
    environment["RECORD_DIR"] = str(records)
    command = [
        "make",
        "--no-print-directory",
        "-C",
        str(ROOT),
        target,
        f"VENV={venv}",
        f"CARRIER_OPT_HOME={tmp_path / 'home'}",
        *settings,
    ]
    # Its own session: the `ui` recipe ends with `kill 0`, which must not reach pytest.
    process = subprocess.Popen(
        command,
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        output, _ = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
    recorded = {}
    for path in records.glob("*.env"):
        lines = path.read_text().splitlines()
        recorded[path.stem] = dict(line.split("=", 1) for line in lines if "=" in line)
    assert recorded, output.decode(errors="replace")
    return recorded


needs_make = pytest.mark.skipif(shutil.which("make") is None, reason="needs GNU make")


@needs_make
def test_make_ui_hands_its_own_addresses_to_the_daemon_and_the_webserver(tmp_path):
    recorded = run_make("ui", tmp_path, "PORT=3123", "REPORTS_PORT=3124")
    for program in ("dagster-daemon", "dagster-webserver"):
        environment = recorded[program]
        assert environment["CARRIER_OPT_DAGSTER_URL"] == "http://127.0.0.1:3123", program
        assert environment["CARRIER_OPT_REPORTS_URL"] == "http://127.0.0.1:3124", program
        assert environment["DAGSTER_HOME"] == str(tmp_path / "home" / "dagster_home")


@needs_make
def test_make_ui_takes_the_addresses_given_on_its_command_line(tmp_path):
    recorded = run_make(
        "ui", tmp_path, "HOST=0.0.0.0", "CARRIER_OPT_DAGSTER_URL=https://dagster.example.com"
    )
    environment = recorded["dagster-webserver"]
    assert environment["CARRIER_OPT_DAGSTER_URL"] == "https://dagster.example.com"
    assert environment["CARRIER_OPT_REPORTS_URL"] == "http://0.0.0.0:3001"


@needs_make
def test_make_demo_links_its_reports_where_make_ui_serves_them(tmp_path):
    recorded = run_make("demo", tmp_path, "PORT=3123", "REPORTS_PORT=3124")
    environment = recorded["carrier-opt"]
    assert environment["CARRIER_OPT_REPORTS_URL"] == "http://127.0.0.1:3124"
    assert environment["CARRIER_OPT_DAGSTER_URL"] == "http://127.0.0.1:3123"


def test_make_clean_jit_deletes_the_numba_caches_and_nothing_else(tmp_path):
    """numba keys each cached kernel by its own file, so one that inlines a helper edited in
    another module stays stale: `make clean-jit` deletes every cached kernel (docs/
    architecture.md), and only those."""
    cache = tmp_path / "carrier_opt" / "core" / "__pycache__"
    cache.mkdir(parents=True)
    names = ("pair_costs._row_minima-150.py311.nbi", "pair_costs._row_minima-150.py311.1.nbc")
    for name in (*names, "pair_costs.cpython-311.pyc"):
        (cache / name).write_text("x")
    source = tmp_path / "carrier_opt" / "core" / "pair_costs.py"
    source.write_text("x")
    subprocess.run(
        ["make", "-s", "-f", str(ROOT / "Makefile"), "clean-jit"], cwd=tmp_path, check=True
    )
    assert sorted(path.name for path in cache.iterdir()) == ["pair_costs.cpython-311.pyc"]
    assert source.exists()
