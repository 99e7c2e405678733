"""Exit codes, the usage error and file arguments shared by every subcommand."""

from __future__ import annotations

import os

EXIT_SUCCEEDED = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130  # 128 + SIGINT, as shells report Ctrl-C
EXIT_TERMINATED = 143  # 128 + SIGTERM
EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE: whoever read the output stopped reading


class UsageError(Exception):
    """A mistake in how the command was called; the message says what to fix."""


def read_limited(path: str, option: str, limit: int, what: str) -> str:
    """The UTF-8 text of ``path``, refused in one line (without reading it) when it is
    over ``limit`` bytes: the service's bound for ``what``."""
    try:
        size = os.stat(path).st_size
        if size > limit:
            raise UsageError(
                f"{option} {path} is {size:,} bytes; {what} is at most {limit:,} bytes, as on "
                "AWS: pass a reference to the data (a file path, an S3 key) instead"
            )
        with open(path, encoding="utf-8") as source:
            return source.read()
    except OSError as error:
        raise UsageError(f"{option}: cannot read {path}: {error.strerror or error}") from None
    except UnicodeDecodeError as error:
        raise UsageError(f"{option} {path} is not UTF-8 text ({error.reason})") from None


def check_size(text: str, option: str, limit: int, what: str) -> None:
    size = len(text.encode("utf-8"))
    if size > limit:
        raise UsageError(
            f"{option} is {size:,} bytes; {what} is at most {limit:,} bytes, as on AWS: pass "
            "a reference to the data (a file path, an S3 key) instead"
        )
