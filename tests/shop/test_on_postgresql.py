"""The shop's database tests again, on the real PostgreSQL server of DATABASE_URL.

The suite itself runs on SQLite; this test runs tests/shop in a child pytest with DATABASE_URL
pointing at PostgreSQL (default postgres://postgres@127.0.0.1:5432/test), in a test database of
its own, and checks that everything passed and the concurrency tests really ran. Without a
reachable server it is skipped, with the reason, unless VIA_REQUIRE_SERVICES=1 (CI), where that
is a failure."""

import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from django.db import connection

PROJECT = Path(__file__).resolve().parents[2]
DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/test"


def postgres_url() -> str:
    url = os.environ.get("DATABASE_URL", "")
    return url if url.startswith(("postgres://", "postgresql://")) else DEFAULT_URL


def unreachable_reason(url: str) -> str | None:
    import psycopg

    try:
        psycopg.connect(url, connect_timeout=3).close()
    except Exception as exc:  # noqa: BLE001
        return f"PostgreSQL at {url} is unreachable: {exc}".strip()
    return None


def test_shop_suite_passes_on_postgresql(tmp_path):
    if os.environ.get("VIA_SHOP_PG_RUN") or connection.vendor == "postgresql":
        pytest.skip("this run is already on PostgreSQL")
    url = postgres_url()
    reason = unreachable_reason(url)
    if reason:
        if os.environ.get("VIA_REQUIRE_SERVICES") == "1":
            pytest.fail(reason + " (VIA_REQUIRE_SERVICES=1)")
        print(reason)
        pytest.skip(reason)
    report = tmp_path / "postgresql.xml"
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "VIA_SHOP_PG_RUN": "1",
        "VIA_TEST_DB_NAME": f"test_via_shop_{os.getpid()}",
    }
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "tests/shop",
            "-q",
            "-p",
            "no:cacheprovider",
            "--create-db",
            "-m",
            "not browser",
            f"--junitxml={report}",
        ],
        cwd=PROJECT,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    print(proc.stdout[-4000:], proc.stderr[-2000:])
    assert proc.returncode == 0, proc.stdout[-6000:]
    cases = {
        case.get("name"): [child.tag for child in case]
        for case in ET.parse(report).getroot().iter("testcase")
    }
    race = [name for name in cases if "race" in name or "never_push_stock" in name]
    assert len(race) == 2, cases.keys()
    assert all(cases[name] == [] or cases[name] == ["system-out"] for name in race), {
        name: cases[name] for name in race
    }
    assert len(cases) > 50
