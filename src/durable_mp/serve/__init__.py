"""durable-mp serve: a Lambda Invoke endpoint for durable handlers.

``durable-mp serve app.py:handler [NAME=pkg.module:fn ...]`` answers
``POST /2015-03-31/functions/{name}/invocations`` like Lambda, so AWS's local durable
service (``dex-local-runner start-server --lambda-endpoint http://127.0.0.1:PORT``) or any
Lambda client can drive the handlers over HTTP.

Every function runs in Lambda-faithful sandboxes (:mod:`durable_mp.sandbox`): AWS's runtime
interface client in a frozen-between-invocations environment with the memory and CPU of
``--memory-size``; ``--sandboxes`` of them, all functions together, serve concurrent
invocations. A sandbox that dies answers as Lambda does, and the next invocation gets a
fresh one.

The handlers checkpoint through boto3, so point them at the durable execution API in
serve's environment, which the sandboxes inherit: ``AWS_ENDPOINT_URL_LAMBDA`` (e.g. the
dex-local-runner URL), a region (``AWS_DEFAULT_REGION``) and credentials (dummy ones,
``AWS_ACCESS_KEY_ID=x AWS_SECRET_ACCESS_KEY=x``, for a local service).

Modules: ``command`` (CLI), ``plan`` (arguments to function settings), ``check`` (loads
the targets once, at start-up), ``entry`` (the handler awslambdaric runs for a TARGET),
``endpoint`` (HTTP), ``sandboxes`` (the pool), ``functions`` (names and ARNs).
"""
