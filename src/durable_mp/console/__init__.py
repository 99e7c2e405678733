"""The local console: executions, their timelines and histories, in a browser.

``durable-mp ui --store runs.db`` serves it (:mod:`durable_mp.console.server`);
``durable-mp report NAME --store runs.db --output run.html`` writes one execution's view
as a self-contained file. It reads the store through the local service, records nothing
of its own and never runs user code.
"""
