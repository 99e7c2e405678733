"""durable-mp serve: a Lambda Invoke endpoint for durable handlers.

``durable-mp serve app.py:handler [NAME=pkg.module:fn ...]`` answers
``POST /2015-03-31/functions/{name}/invocations`` like Lambda, so AWS's local durable
service (``dex-local-runner start-server --lambda-endpoint http://127.0.0.1:PORT``) or any
Lambda client can drive the handlers over HTTP.

Each sandbox is a warm runtime process (``runtime``) serving one invocation at a time,
with its own step worker pool; ``--sandboxes`` of them serve concurrent invocations. A
runtime that dies fails its invocation with ``Runtime.ExitError``, as on Lambda.

The handlers checkpoint through boto3, so point them at the durable execution API in
serve's environment, which the runtimes inherit: ``AWS_ENDPOINT_URL_LAMBDA`` (e.g. the
dex-local-runner URL), a region (``AWS_DEFAULT_REGION``) and credentials (dummy ones,
``AWS_ACCESS_KEY_ID=x AWS_SECRET_ACCESS_KEY=x``, for a local service).

Modules: ``command`` (CLI), ``endpoint`` (HTTP), ``sandboxes`` (the pool),
``sandbox`` (one runtime process), ``runtime`` (inside it), ``wire`` (their socket
protocol), ``functions`` (names and ARNs), ``lambda_errors`` (error shapes on the wire).
"""
