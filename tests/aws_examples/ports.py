"""Minimal ports of AWS examples written for an older SDK that also fail on the official
SDK 3.x. ``vendor.py`` applies each to AWS's text (before the prefixes are swapped), so
the ported test passes on the official SDK 3.x and on durable-mp alike; the resulting
diff is written to ``PORTS.diff``.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Port:
    path: str  # relative to the examples package
    old: str  # exact text in AWS's file
    new: str
    reason: str


_QUALIFIED = (
    "SDK 3.x records an error's ErrorType module-qualified "
    "(aws_durable_execution_sdk_python.exceptions.X, durable_mp.exceptions.X once swapped); "
    "the example expects the bare class name of SDK 1.x"
)

_FACTORIES = (
    "SDK 3.x takes plugin factories (objects with create_plugin(info)), not plugin "
    "instances: the example's plugin is wrapped in a factory"
)
_OTEL_2 = (
    "the OTel plugin package 2.x has no ProviderSource and takes a factory; "
    "OtelPluginConfig() uses the global tracer provider by default"
)

PORTS: list[Port] = [
    Port(
        "test/wait_for_callback/test_wait_for_callback_failure.py",
        '"ErrorType": "CallbackExternalError",',
        '"ErrorType": "aws_durable_execution_sdk_python.exceptions.CallbackExternalError",',
        _QUALIFIED,
    ),
    Port(
        "test/wait_for_callback/test_wait_for_callback_submitter_failure.py",
        'assert error.type == "CallbackSubmitterError"',
        'assert error.type == "aws_durable_execution_sdk_python.exceptions.CallbackSubmitterError"',
        _QUALIFIED,
    ),
    Port(
        "test/wait_for_callback/test_wait_for_callback_timeout.py",
        'assert wait_for_callback_error.type == "CallbackTimeoutError"',
        "assert wait_for_callback_error.type == "
        '"aws_durable_execution_sdk_python.exceptions.CallbackTimeoutError"',
        _QUALIFIED,
    ),
    Port(
        "test/wait_for_callback/test_wait_for_callback_timeout.py",
        "if operation.sub_type is OperationSubType.WAIT_FOR_CALLBACK",
        "if operation.sub_type == OperationSubType.WAIT_FOR_CALLBACK",
        "SDK 3.x gives an operation's sub_type as the service's string, so it compares "
        "equal to the OperationSubType member but is not that object",
    ),
    Port(
        "src/plugin/execution_with_plugin.py",
        "@durable_execution(plugins=[MyPlugin()])",
        "class MyPluginFactory:\n"
        "    def create_plugin(self, info):\n"
        "        return MyPlugin()\n\n\n"
        "@durable_execution(plugins=[MyPluginFactory()])",
        _FACTORIES,
    ),
    Port(
        "src/plugin/execution_with_wait_plugin.py",
        "@durable_execution(plugins=[RecordingWaitPlugin()])",
        "class RecordingWaitPluginFactory:\n"
        "    def create_plugin(self, info):\n"
        "        return RecordingWaitPlugin()\n\n\n"
        "@durable_execution(plugins=[RecordingWaitPluginFactory()])",
        _FACTORIES,
    ),
    *(
        port
        for path in ("src/plugin/execution_with_otel.py", "src/otel/otel_logger_example.py")
        for port in (
            Port(path, "    InvocationOtelPlugin,\n", "    InvocationOtelPluginFactory,\n", _OTEL_2),
            Port(path, "    ProviderSource,\n", "", _OTEL_2),
            Port(
                path,
                "InvocationOtelPlugin(OtelPluginConfig(provider_source=ProviderSource.GLOBAL))",
                "InvocationOtelPluginFactory(OtelPluginConfig())",
                _OTEL_2,
            ),
        )
    ),
]
