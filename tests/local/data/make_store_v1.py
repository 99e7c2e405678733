"""Rebuild ``store_v1.db`` with the durable-mp of commit 3c7cff1 (before stores were
marked with an application_id, schema version 1):

    git archive 3c7cff1 src | tar -x -C /tmp/v1
    PYTHONPATH=/tmp/v1/src:tests/local/data python tests/local/data/make_store_v1.py OUT

Execution ``done`` succeeded; ``half`` was running when its runner died in the middle of
its second step, so its invocation is still open.
"""

import os
import sqlite3
import sys

from v1_job import handler

from durable_mp.local import LocalRunner, LocalService

path = sys.argv[1]
service = LocalService(path)
runner = LocalRunner(service, {"job": handler})
assert runner.run("job", {"n": 1}, name="done").status == "SUCCEEDED"
arn = runner.start("job", {"n": 2}, name="half")
service.close()
child = os.fork()
if child == 0:
    os.environ["V1_CRASH_IN_SECOND"] = "1"
    LocalRunner(LocalService(path), {"job": handler}).drive(arn)
    os._exit(0)
_, status = os.waitpid(child, 0)
assert os.WEXITSTATUS(status) == 9, status
# Merge the WAL the dead runner left into the file, so the fixture is one file.
connection = sqlite3.connect(path)
connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
connection.close()
