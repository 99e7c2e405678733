"""Rebuild ``store_v2.db`` with the durable-mp of commit df12e9c (schema version 2: stores
marked with an application_id, with ``leases``, before ``body_runs``):

    git archive df12e9c src | tar -x -C /tmp/v2
    PYTHONPATH=/tmp/v2/src:tests/local/data python tests/local/data/make_store_v2.py OUT

The same job as ``store_v1.db`` (``v1_job.py``): execution ``done`` succeeded; ``half``
was running when its runner died in the middle of its second step, so its invocation is
still open and its runner's lease is still in the store.
"""

import os
import sqlite3
import sys

from v1_job import handler

from durable_mp.local import LocalRunner, LocalService
from durable_mp.local.schema import SCHEMA_VERSION

assert SCHEMA_VERSION == 2, f"run this with the durable-mp of commit df12e9c, not {SCHEMA_VERSION}"
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
