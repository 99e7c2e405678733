"""The durable-mp command: usage errors, --json, list and history."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import textwrap

import pytest

HANDLER = textwrap.dedent(
    """
    from durable_mp import RetryPresets, StepConfig, durable_execution


    @durable_execution
    def handler(event, ctx):
        value = ctx.step(lambda _: event["x"] * 2, name="double")
        if event.get("fail"):
            ctx.step(lambda _: 1 / 0, name="boom", config=StepConfig(retry_strategy=RetryPresets.none()))
        return {"doubled": value}


    def plain(event, ctx):
        return ctx.step(lambda _: "plain function", name="p")
    """
)


def durable_mp(*args, cwd=None):
    return subprocess.run(
        [sys.executable, "-m", "durable_mp", *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=cwd,
    )


@pytest.fixture
def job(tmp_path):
    path = tmp_path / "job.py"
    path.write_text(HANDLER)
    return path


def test_json_output_and_exit_codes(job, tmp_path):
    ok = durable_mp("run", f"{job}:handler", "--input", '{"x": 21}', "--json")
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout.splitlines()[-1]) == {
        "Status": "SUCCEEDED",
        "Result": '{"doubled": 42}',
    }

    failed = durable_mp("run", f"{job}:handler", "--input", '{"x": 1, "fail": true}', "--json")
    assert failed.returncode == 1
    output = json.loads(failed.stdout.splitlines()[-1])
    assert output["Status"] == "FAILED"
    assert output["Error"]["ErrorType"] == "durable_mp.exceptions.StepError"
    assert "division by zero" in failed.stderr


def test_plain_function_target_is_wrapped(job):
    result = durable_mp("run", f"{job}:plain", "--executor", "thread")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == '"plain function"'


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["run", "missing.py:handler"], "no such file"),
        (["run", "JOB:nope"], "has no attribute 'nope'"),
        (["run", "JOB"], "is not a target"),
        (["run", "JOB:handler", "--input", "{oops"], "--input is not valid JSON"),
        (["run", "JOB:handler", "--input-file", "/nonexistent/input.json"], "cannot read"),
        (["run", "JOB:handler", "--executor", "gpu"], "invalid choice"),
        (["run", "JOB:handler", "--name", "no spaces"], "not a valid execution name"),
        (["run", "no_such_module_xyz:handler"], "cannot import module"),
        (["history", "ghost", "--store", "STORE"], "no execution named 'ghost'"),
        (["list", "--store", "/nonexistent/dir/x.db"], "no such store file"),
        (["frobnicate"], "invalid choice"),
    ],
)
def test_usage_errors_are_one_line_and_exit_2(job, tmp_path, args, message):
    store = tmp_path / "s.db"
    durable_mp("run", f"{job}:handler", "--input", '{"x": 1}', "--store", str(store))
    args = [a.replace("JOB", str(job)).replace("STORE", str(store)) for a in args]
    result = durable_mp(*args)
    assert result.returncode == 2
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr


def test_list_history_and_finished_rerun(job, tmp_path):
    store = tmp_path / "runs.db"
    first = durable_mp(
        "run", f"{job}:handler", "--input", '{"x": 5}', "--store", str(store), "--name", "five"
    )
    assert first.returncode == 0, first.stderr
    assert oct(os.stat(store).st_mode & 0o777) == "0o600"

    listing = durable_mp("list", "--store", str(store), "--json")
    [entry] = json.loads(listing.stdout)
    assert entry["Name"] == "five" and entry["Status"] == "SUCCEEDED"

    history = durable_mp("history", "five", "--store", str(store), "--json")
    kinds = [e["EventType"] for e in json.loads(history.stdout)]
    assert kinds == [
        "ExecutionStarted",
        "StepStarted",
        "StepSucceeded",
        "InvocationCompleted",
        "ExecutionSucceeded",
    ]
    text = durable_mp("history", "five", "--store", str(store))
    assert "StepSucceeded  'double'" in text.stdout

    again = durable_mp(
        "run", f"{job}:handler", "--input", '{"x": 5}', "--store", str(store), "--name", "five"
    )
    assert again.returncode == 0
    assert again.stdout.strip() == '{"doubled": 10}'
    assert "already SUCCEEDED" in again.stderr

    clash = durable_mp(
        "run", f"{job}:handler", "--input", '{"x": 6}', "--store", str(store), "--name", "five"
    )
    assert clash.returncode == 2 and "different input" in clash.stderr


def test_identical_command_without_name_reuses_the_derived_name(job, tmp_path):
    store = tmp_path / "runs.db"
    command = ("run", f"{job}:handler", "--input", '{"x": 3}', "--store", str(store))
    assert durable_mp(*command).returncode == 0
    again = durable_mp(*command)
    assert "already SUCCEEDED" in again.stderr
    listing = durable_mp("list", "--store", str(store), "--json")
    assert len(json.loads(listing.stdout)) == 1


def test_an_input_file_over_6_mb_is_one_line_and_exit_2(job, tmp_path):
    limit = 6 * 1024 * 1024
    big = tmp_path / "big.json"
    big.write_text(json.dumps({"x": 1, "pad": "p" * limit}))
    result = durable_mp("run", f"{job}:handler", "--input-file", str(big), "--store", str(tmp_path / "s.db"))
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert f"is {big.stat().st_size:,} bytes" in result.stderr
    assert f"an execution's input is at most {limit:,} bytes" in result.stderr
    assert not (tmp_path / "s.db").exists()  # refused before anything was created


def test_a_reader_that_closes_the_pipe_gets_no_traceback(tmp_path):
    from durable_mp import durable_execution
    from durable_mp.local import LocalRunner, LocalService

    @durable_execution(step_executor="inline")
    def many(event, ctx):
        return sum(ctx.step(lambda _, i=i: i, name=f"step-{i}-{'n' * 200}") for i in range(event))

    store = tmp_path / "runs.db"
    service = LocalService(store)
    runner = LocalRunner(service, {"many": many})
    runner.run("many", 300, name="long")
    for number in range(1000):
        runner.start("many", 0, name=f"waiting-{number:04d}-{'w' * 50}")
    service.close()
    pipe_capacity = 64 * 1024  # Linux's default; every output below is larger
    for args in (["history", "long", "--store", str(store)], ["list", "--store", str(store), "--json"]):
        whole = durable_mp(*args)
        assert whole.returncode == 0 and len(whole.stdout) > pipe_capacity, (args, len(whole.stdout))
        reader = subprocess.Popen(
            [sys.executable, "-m", "durable_mp", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert reader.stdout.read(10)  # like `| head -c 10`
        reader.stdout.close()
        stderr = reader.stderr.read()
        reader.wait(60)
        assert stderr == "", stderr
        assert reader.returncode == 141, args  # as if killed by SIGPIPE; no BrokenPipeError


def test_a_run_that_creates_the_execution_and_loses_it_says_one_line(job, tmp_path, capsys, monkeypatch):
    """Two runs started together: this one creates the execution, the other one takes its
    lease first (forced here right after the start). This one says who runs it, only."""
    from durable_mp.cli.main import main
    from durable_mp.local import LocalRunner, LocalService
    from durable_mp.local.owners import Owner

    store = tmp_path / "runs.db"
    start = LocalRunner.start

    def start_then_lose_the_race(self, *args, **kwargs):
        arn = start(self, *args, **kwargs)
        with LocalService(store) as other:
            assert other.acquire_lease(arn, Owner.of_this_process()) is None
        return arn

    monkeypatch.setattr(LocalRunner, "start", start_then_lose_the_race)
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    try:  # in this process: the command configures logging for itself
        code = main(["run", f"{job}:handler", "--input", '{"x": 1}', "--store", str(store), "--name", "job"])
    finally:
        root.handlers[:], root.level = handlers, level
        logging.disable(logging.NOTSET)
    err = capsys.readouterr().err
    assert code == 2
    assert err.strip().splitlines() == [
        f"durable-mp run: execution job is being run by pid {os.getpid()} on "
        + err.split(" on ", 1)[1].split("; ")[0]
        + f"; add --wait to wait for it to finish, or stop it with durable-mp stop job --store {store}"
    ]
