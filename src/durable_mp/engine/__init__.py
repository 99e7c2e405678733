"""Parent-side machinery of one durable execution (internal)."""
