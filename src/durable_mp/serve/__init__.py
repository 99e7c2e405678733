"""durable-mp serve: a Lambda Invoke endpoint for durable handlers."""
