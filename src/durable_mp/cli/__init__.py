"""The durable-mp command line."""
