"""durable-mp's benchmark suite: ``python -m benchmarks [--quick] [--only 1,2,...]``.

See :mod:`benchmarks.run` for the scenarios and the outputs.
"""
