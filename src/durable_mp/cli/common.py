"""Exit codes and the usage error shared by every subcommand."""

from __future__ import annotations

EXIT_SUCCEEDED = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130  # 128 + SIGINT, as shells report Ctrl-C
EXIT_TERMINATED = 143  # 128 + SIGTERM


class UsageError(Exception):
    """A mistake in how the command was called; the message says what to fix."""
