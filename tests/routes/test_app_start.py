"""Starting the real app (`streamlit run app.py`) on a database another process holds."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from core import schema
from core.db import Database

ROOT = Path(__file__).resolve().parents[2]


def test_a_second_parley_says_one_sentence_and_exits_non_zero(tmp_path):
    path = tmp_path / "parley.duckdb"
    holder = Database(path)  # this process plays the Parley that is already running
    schema.migrate(holder)
    try:
        env = dict(os.environ, PARLEY_DB=str(path), PARLEY_DEMO="0")
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "streamlit",
                "run",
                str(ROOT / "app.py"),
                "--server.port",
                "0",
                "--server.headless",
                "true",
                "--browser.gatherUsageStats",
                "false",
            ],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=90,
        )
    finally:
        holder.close()
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert f"Parley cannot start: Parley is already running with {path}" in output
    assert "Traceback" not in output
