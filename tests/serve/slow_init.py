"""A durable handler whose import (the sandbox's INIT) takes SLOW_INIT_SECONDS."""

from __future__ import annotations

import os
import time
from typing import Any

from durable_mp import DurableContext, durable_execution

time.sleep(float(os.environ.get("SLOW_INIT_SECONDS", "0")))


@durable_execution
def slow_start(event: Any, ctx: DurableContext) -> dict[str, Any]:
    return {"pid": os.getpid()}
