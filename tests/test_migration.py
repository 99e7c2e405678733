"""Replacing the import prefix of an official-SDK program migrates it to durable-mp."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

OFFICIAL_PROGRAM = textwrap.dedent(
    """
    from aws_durable_execution_sdk_python import (
        BatchResult,
        DurableContext,
        StepContext,
        durable_execution,
        durable_step,
        durable_with_child_context,
    )
    from aws_durable_execution_sdk_python.config import (
        CompletionConfig,
        Duration,
        MapConfig,
        StepConfig,
        StepSemantics,
    )
    from aws_durable_execution_sdk_python.exceptions import StepError
    from aws_durable_execution_sdk_python.retries import (
        RetryPresets,
        RetryStrategyConfig,
        create_retry_strategy,
    )
    from aws_durable_execution_sdk_python.types import WaitForConditionCheckContext
    from aws_durable_execution_sdk_python.waits import (
        WaitForConditionConfig,
        WaitStrategyConfig,
        create_wait_strategy,
    )


    @durable_step
    def square(step: StepContext, n: int) -> int:
        return n * n


    @durable_with_child_context
    def squares(ctx: DurableContext, n: int) -> list[int]:
        return [ctx.step(square(i)) for i in range(n)]


    @durable_execution
    def handler(event: dict, ctx: DurableContext) -> dict:
        values = ctx.run_in_child_context(squares(event["n"]))
        mapped: BatchResult = ctx.map(
            values,
            lambda c, v, i, items: c.step(lambda _: v + 1, name=f"inc-{i}"),
            config=MapConfig(max_concurrency=2, completion_config=CompletionConfig.all_completed()),
        )
        try:
            ctx.step(
                lambda _: 1 / 0,
                name="boom",
                config=StepConfig(
                    retry_strategy=RetryPresets.none(),
                    step_semantics=StepSemantics.AT_MOST_ONCE_PER_RETRY,
                ),
            )
        except StepError as error:
            failure = error.error_type
        counted = ctx.wait_for_condition(
            lambda state, check: state + 1,
            WaitForConditionConfig(
                create_wait_strategy(
                    WaitStrategyConfig(lambda s: s < 2, initial_delay=Duration.from_seconds(1))
                ),
                initial_state=0,
            ),
        )
        ctx.wait(Duration.from_seconds(1))
        flaky = create_retry_strategy(RetryStrategyConfig(max_attempts=2))
        return {"mapped": mapped.get_results(), "failure": failure, "counted": counted,
                "strategy": flaky(ValueError("x"), 1).should_retry}
    """
)


def test_official_program_runs_after_replacing_the_import_prefix(tmp_path):
    program = tmp_path / "job.py"
    program.write_text(OFFICIAL_PROGRAM.replace("aws_durable_execution_sdk_python", "durable_mp"))
    result = subprocess.run(
        [sys.executable, "-m", "durable_mp", "run", f"{program}:handler",
         "--input", '{"n": 4}', "--fast-forward"],
        capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {
        "mapped": [1, 2, 5, 10], "failure": "ZeroDivisionError", "counted": 2, "strategy": True,
    }
