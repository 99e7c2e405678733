"""``durable-mp package``: a Lambda deployment zip of a handler, durable-mp and its dependencies.

Modules: ``command`` (the CLI), ``code`` (which user files go in, and the handler string),
``wheels`` (dependencies as wheels for Lambda's platform), ``archive`` (the zip).
"""
