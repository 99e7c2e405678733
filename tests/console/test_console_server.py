"""The console's HTTP surface: the token guards everything, actions are POSTs with the
token in a header, read-only stores refuse changes, live updates reach the page, and a
runner writing the store from another process is never held up."""

from __future__ import annotations

import http.client
import json
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

from durable_mp.local import LocalService
from tests.console.conftest import cli, console, finish, run_job, start_job


def make_store(store):
    run_job(store, "echo", "done-already", {"order": 1})
    return store


def wait_for(predicate, timeout=30.0, what="the condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def test_every_request_needs_the_token(store):
    LocalService(store).close()
    with console(store) as served:
        assert served.request("/", token=None)[0] == 403
        assert served.request("/api/executions", token=None)[0] == 403
        status, body = served.request(f"/?token={served.token[:-1]}x", token=None)
        assert status == 403 and "wrong token" in body["error"]
        status, page = served.request(f"/?token={served.token}", token=None)
        assert status == 200 and '"mode":"live"' in page
        assert served.request("/api/executions")[0] == 200
        assert served.request("/api/nothing")[0] == 404


def test_a_foreign_host_name_is_refused_even_with_the_token(store):
    """DNS rebinding: another site's name resolving to 127.0.0.1."""
    LocalService(store).close()
    with console(store) as served:
        status, _ = served.request("/api/executions", headers={"Host": "evil.example:80"})
        assert status == 403
        status, _ = served.request("/api/executions", headers={"Host": "localhost:1"})
        assert status == 200


def test_actions_are_posts_with_the_token_in_a_header_and_a_json_body(store):
    LocalService(store).close()
    run = start_job(store, "long_wait", "sleeper")
    try:
        with console(store) as served:
            wait_for(
                lambda: served.request("/api/execution?name=sleeper")[0] == 200,
                what="the run to start",
            )
            query = f"/api/stop?token={served.token}"
            assert served.request(query, body={"name": "sleeper"}, token=None)[0] == 403
            status, body = served.request(
                "/api/stop", body=b"name=sleeper", content_type="application/x-www-form-urlencoded"
            )
            assert status == 415, body
            assert served.request("/api/stop", body=[1, 2])[0] == 400
            assert served.request("/api/stop", body={})[0] == 400
            assert served.request("/api/execution?name=sleeper")[1]["summary"]["status"] == "RUNNING"
            status, body = served.request("/api/stop", body={"name": "sleeper", "message": "bye"})
            assert (status, body["status"]) == (200, "STOPPED")
        code, _, err = finish(run)
    finally:
        run.kill()
    assert code == 1, err  # the run that drove it ends as its execution did
    assert "stopped (durable-mp stop): Error: bye" in err


def test_a_read_only_console_shows_but_never_changes(store):
    LocalService(store).close()
    run = start_job(store, "long_wait", "kept")
    try:
        wait_for(lambda: LocalService(store).find_execution("kept"))
        with console(store, read_only=True) as served:
            status, listing = served.request("/api/executions")
            assert status == 200 and listing["readOnly"] is True
            status, body = served.request("/api/stop", body={"name": "kept"})
            assert status == 403 and "read-only" in body["error"]
            assert served.request("/api/execution?name=kept")[1]["summary"]["status"] == "RUNNING"
    finally:
        run.kill()
        finish(run)


def test_the_stream_announces_changes_made_by_other_processes(store):
    LocalService(store).close()
    with console(store) as served:
        address = urllib.parse.urlsplit(served.base)
        connection = http.client.HTTPConnection(address.hostname, address.port, timeout=20)
        connection.request("GET", f"/api/stream?token={served.token}")
        response = connection.getresponse()
        assert response.status == 200
        assert response.getheader("Content-Type") == "text/event-stream"
        greeting = b""
        while b"event: hello" not in greeting:
            greeting += response.read1(4096)
        writer = textwrap.dedent(
            f"""
            from durable_mp.local import LocalService
            LocalService({str(store)!r}).start_execution("fn", None, name="from-elsewhere")
            """
        )
        subprocess.run([sys.executable, "-c", writer], check=True)
        received = b""
        deadline = time.monotonic() + 10
        while b"event: change" not in received and time.monotonic() < deadline:
            received += response.read1(4096)
        assert b"event: change" in received
        connection.close()


def test_the_change_stamp_ignores_lease_renewals_and_notices_a_dead_owner(store):
    """What makes the stream say ``change``: a runner renews its lease every second (a
    commit that changes nothing shown), and a runner that dies commits nothing at all."""
    import dataclasses

    import psutil

    from durable_mp.console.store_view import StoreView
    from durable_mp.local.owners import Owner

    writer = LocalService(store)  # another connection: its commits move data_version
    record = writer.start_execution("fn", None, name="driven")
    view = StoreView(LocalService(store, read_only=True))
    runner = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        started = psutil.Process(runner.pid).create_time()
        owner = dataclasses.replace(
            Owner.of_this_process(), pid=runner.pid, process_start=started
        )
        assert writer.acquire_lease(record.arn, owner) is None
        stamp = view.change_stamp()
        assert view.executions()[0]["owner"]["pid"] == runner.pid
        version = view.service.data_version()
        assert writer.renew_leases(owner) == {record.arn}
        assert view.service.data_version() != version  # a commit ...
        assert view.change_stamp() == stamp  # ... that changes nothing shown
        runner.kill()
        runner.wait(timeout=30)
        assert view.service.data_version() != version
        before_death = view.service.data_version()
        assert view.change_stamp() != stamp  # no commit, yet the owner is gone
        assert view.service.data_version() == before_death
        assert view.executions()[0]["owner"] is None
        stamp = view.change_stamp()
        writer.stop_execution(record.arn)
        assert view.change_stamp() != stamp
    finally:
        runner.kill()
        runner.wait(timeout=30)
        view.close()
        writer.close()


def test_reading_never_holds_up_a_runner_writing_the_same_store(store):
    """A job of 150 sequential steps runs in another process while the console reads the
    same store as fast as it can: every read answers, and the run completes."""
    job = textwrap.dedent(
        """
        from durable_mp import durable_execution

        @durable_execution(step_executor="inline")
        def handler(event, ctx):
            return sum(ctx.step(lambda _, i=i: i, name=f"s{i}") for i in range(150))
        """
    )
    path = store.parent / "many_steps.py"
    path.write_text(job)
    LocalService(store).close()
    with console(store) as served:
        runner = subprocess.Popen(
            cli("run", f"{path}:handler", "--store", str(store), "--name", "busy", "--json"),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        answered, seen_done = 0, set()
        failures: list[object] = []

        def hammer(path: str) -> None:
            nonlocal answered
            while runner.poll() is None:
                status, body = served.request(path)
                if status == 404 and "busy" in path:
                    continue  # not started yet
                if status != 200:
                    failures.append(body)
                    return
                answered += 1
                if "summary" in body:
                    seen_done.add(body["summary"]["steps"]["done"])

        readers = [
            threading.Thread(target=hammer, args=(p,))
            for p in ("/api/executions", "/api/execution?name=busy", "/api/events?name=busy")
        ]
        for reader in readers:
            reader.start()
        code, out, err = finish(runner, timeout=120)
        for reader in readers:
            reader.join()
    assert code == 0, out + err
    assert failures == []
    assert answered > 10
    assert len(seen_done) > 2, "the console saw the run progress"


def test_cli_errors_are_one_line_with_exit_2(store, tmp_path):
    missing = subprocess.run(
        cli("ui", "--store", str(tmp_path / "nope.db")), capture_output=True, text=True
    )
    assert missing.returncode == 2 and "no such store file" in missing.stderr
    make_store(store)
    unknown = subprocess.run(
        cli("report", "ghost", "--store", str(store), "--output", str(tmp_path / "r.html")),
        capture_output=True,
        text=True,
    )
    assert unknown.returncode == 2 and "no execution named 'ghost'" in unknown.stderr
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        busy = subprocess.run(
            cli("ui", "--store", str(store), "--port", str(port)), capture_output=True, text=True
        )
    assert busy.returncode == 2 and "is in use" in busy.stderr, busy.stderr


def test_ui_prints_its_url_and_stops_on_ctrl_c(store):
    make_store(store)
    server = subprocess.Popen(
        cli("ui", "--store", str(store)), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        line = server.stdout.readline()
        assert line.startswith(f"durable-mp console for {store}: http://127.0.0.1:")
        url = line.split(": ", 1)[1].strip()
        token = urllib.parse.parse_qs(urllib.parse.urlsplit(url).query)["token"][0]
        assert len(token) >= 32
        with urllib.request.urlopen(url, timeout=10) as page:
            assert page.status == 200
    finally:
        server.send_signal(signal.SIGINT)
        code, _, err = finish(server, timeout=20)
    assert code == 0, err


def test_a_report_is_one_self_contained_file(store, tmp_path):
    hostile = {"note": "</script><script>alert(1)</script><!--"}
    run_job(store, "echo", "ticket-1", hostile)
    output = tmp_path / "run.html"
    made = subprocess.run(
        cli("report", "ticket-1", "--store", str(store), "--output", str(output)),
        capture_output=True,
        text=True,
    )
    assert made.returncode == 0, made.stderr
    assert "execution ticket-1" in made.stderr
    html = output.read_text()
    assert html.count("</script>") == 2  # the boot data and the script, nothing injected
    assert "alert(1)" in html  # the input is there, escaped inside the JSON
    for remote in ("http://", "https://", "//cdn", "src=", "@import"):
        assert remote not in html, remote


def test_a_store_its_user_cannot_write_is_opened_read_only():
    """As root, the console runs as ``nobody`` (setpriv) over a root-owned store; as any
    other user, over a store and folder it made read-only. Either way it cannot write the
    file nor create SQLite's ``-shm`` beside it, and still shows the store."""
    import os
    import shutil
    import tempfile

    folder = Path(tempfile.mkdtemp(prefix="durable-mp-ro-"))
    try:
        store = folder / "runs.db"
        run_job(store, "echo", "kept", {"n": 1})
        as_user: list[str] = []
        if os.geteuid() == 0:
            setpriv = shutil.which("setpriv")
            assert setpriv, "setpriv (util-linux) is needed to run the console as another user"
            as_user = [setpriv, "--reuid=65534", "--regid=65534", "--clear-groups"]
            store.chmod(0o644)
            folder.chmod(0o755)
        else:
            store.chmod(0o444)
            folder.chmod(0o555)
        probe = subprocess.run([*as_user, sys.executable, "-c", "import durable_mp"], capture_output=True, text=True)
        assert probe.returncode == 0, (
            "the unprivileged user cannot run this Python and package "
            f"(install them somewhere world-readable): {probe.stderr}"
        )
        server = subprocess.Popen(
            [*as_user, *cli("ui", "--store", str(store))],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            line = server.stdout.readline()
            assert "(read-only)" in line, line + server.stderr.read()
            base, query = line.split(": ", 1)[1].strip().split("/?")
            token = urllib.parse.parse_qs(query)["token"][0]
            request = urllib.request.Request(
                base + "/api/executions", headers={"X-Durable-MP-Token": token}
            )
            with urllib.request.urlopen(request, timeout=10) as answer:
                listing = json.loads(answer.read())
            assert listing["readOnly"] is True
            assert [e["name"] for e in listing["executions"]] == ["kept"]
            stop = urllib.request.Request(
                base + "/api/stop",
                data=b'{"name": "kept"}',
                headers={"X-Durable-MP-Token": token, "Content-Type": "application/json"},
            )
            try:
                urllib.request.urlopen(stop, timeout=10)
            except urllib.error.HTTPError as refused:
                assert refused.code == 403
            else:
                raise AssertionError("a read-only console accepted a stop")
        finally:
            server.send_signal(signal.SIGINT)
            finish(server, timeout=20)
    finally:
        folder.chmod(0o755)
        shutil.rmtree(folder, ignore_errors=True)


def test_the_owner_column_shows_the_live_runner_and_nobody_once_it_is_gone(store):
    """The list and the execution's page show who drives a run (its lease: pid, host,
    since when); an execution that ended, or whose runner was killed, has no owner."""
    run_job(store, "echo", "finished", {"n": 1})
    before = time.time()
    run = start_job(store, "long_wait", "sleeper")
    try:
        with console(store) as served:

            def listed():
                executions = served.request("/api/executions")[1]["executions"]
                return {e["name"]: e for e in executions}

            owner = wait_for(
                lambda: (listed().get("sleeper") or {}).get("owner"),
                what="the run to take the execution's lease",
            )
            assert (owner["pid"], owner["host"]) == (run.pid, socket.gethostname())
            assert before - 1 <= owner["since"] <= time.time()
            assert listed()["finished"]["owner"] is None
            detail = served.request("/api/execution?name=sleeper")[1]["summary"]
            assert detail["owner"] == owner and detail["status"] == "RUNNING"

            address = urllib.parse.urlsplit(served.base)
            connection = http.client.HTTPConnection(address.hostname, address.port, timeout=20)
            connection.request("GET", f"/api/stream?token={served.token}")
            stream = connection.getresponse()
            received = b""
            while b"event: hello" not in received:
                received += stream.read1(4096)

            run.kill()  # SIGKILL: its lease stays in the store, its process is gone
            run.wait(timeout=30)
            received = b""  # the page hears of it, though nothing was committed
            deadline = time.monotonic() + 15
            while b"event: change" not in received and time.monotonic() < deadline:
                received += stream.read1(4096)
            assert b"event: change" in received
            connection.close()
            assert wait_for(
                lambda: "owner" in (sleeper := listed()["sleeper"]) and sleeper["owner"] is None,
                what="the dead runner to stop counting as the owner",
            )
            assert listed()["sleeper"]["status"] == "RUNNING"  # nobody drives it: "—"
    finally:
        run.kill()
        finish(run)


def test_an_older_store_is_read_without_being_changed(store, tmp_path):
    """A schema-2 store (before body runs) made by an older durable-mp: the report reads
    it as it is, through the read-only path, and writes nothing to it."""
    import hashlib
    import shutil

    data = Path(__file__).parents[1] / "local" / "data" / "store_v2.db"
    shutil.copyfile(data, store)
    before = hashlib.sha256(store.read_bytes()).hexdigest()
    output = tmp_path / "half.html"
    made = subprocess.run(
        cli("report", "half", "--store", str(store), "--output", str(output)),
        capture_output=True,
        text=True,
    )
    assert made.returncode == 0, made.stderr
    assert "execution half (RUNNING" in made.stderr
    assert '"lanes":[]' in output.read_text().replace(" ", "")  # no body runs recorded
    assert hashlib.sha256(store.read_bytes()).hexdigest() == before
    wal = store.with_name("runs.db-wal")  # SQLite's companions of a WAL reader, if any
    assert not wal.exists() or wal.stat().st_size == 0
