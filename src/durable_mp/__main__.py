"""``python -m durable_mp`` is the ``durable-mp`` command."""

import sys

from durable_mp.cli.main import main

sys.exit(main())
