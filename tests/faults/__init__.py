"""The fault campaign: what durable-mp promises, checked under kills, interruptions,
contending runs, damaged and full stores, and API faults on the Lambda path.

The machinery (``workflow``, ``campaign``, ``processes``, ``history``, ``stores``,
``full_disk``, ``proxy``, ``api_faults``) serves both the short version, the tests of this
package (marker ``faults``, about two minutes), and the long one, ``python -m
benchmarks.faults``, which writes ``docs/reliability.md``.
"""
