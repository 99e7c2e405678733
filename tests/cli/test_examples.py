"""The examples run as documented."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "durable_mp", "run", *args],
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_nested_steps_example_shows_the_hand_off():
    result = run(
        f"{EXAMPLES}/nested_steps.py:handler", "--input", '{"n": 10}', "--log-level", "DEBUG"
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"processed": "report-processed", "fibonacci": 55}
    lines = [
        line.split(": ", 1)[1]
        for line in result.stderr.splitlines()
        if line.startswith("DEBUG durable_mp.engine.manager:")
    ]
    # 'process' (operation 2) waits inside its body for 'fetch' (operation 1):
    waits = lines.index("Deregistered context '2-step [process]'. Active contexts: 1")
    woken = next(
        i
        for i, line in enumerate(lines)
        if i > waits and line.startswith("Registered context '2-step [process]' as active")
    )
    assert lines[woken + 1].startswith("Deregistered context '1-step [fetch]'")
    counts = [int(re.search(r"Active contexts: (\d+)", line).group(1)) for line in lines]
    assert 0 not in counts[:-1]


def test_quickstart_and_primes_examples():
    quick = run(
        f"{EXAMPLES}/quickstart.py:handler", "--input", '{"name": "World"}', "--fast-forward"
    )
    assert quick.returncode == 0, quick.stderr
    assert json.loads(quick.stdout) == "HELLO, WORLD! (score 5)"
    primes = run(f"{EXAMPLES}/primes.py:handler", "--input", '{"limit": 50000, "chunks": 3}')
    assert primes.returncode == 0, primes.stderr
    assert json.loads(primes.stdout)["primes"] == 5133
