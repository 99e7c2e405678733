"""Map and parallel: results and completion rules (``durable_mp.concurrency.models``)."""
