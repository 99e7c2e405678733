#!/usr/bin/env bash
# The same deployment as template.yaml with the AWS CLI alone. Run from the repository's
# root after `durable-mp package examples/primes.py:handler --output examples/sam/bundle.zip
# --python 3.13`. Needs credentials allowed to create roles and functions.
set -euo pipefail
FUNCTION=${FUNCTION:-durable-primes}

ROLE_ARN=$(aws iam create-role --role-name "$FUNCTION-role" \
    --assume-role-policy-document '{"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
        "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]}' \
    --query Role.Arn --output text)
aws iam attach-role-policy --role-name "$FUNCTION-role" \
    --policy-arn arn:aws:iam::aws:policy/service-role/AWSLambdaBasicDurableExecutionRolePolicy
sleep 10  # a new role takes a few seconds to be usable by Lambda

# 3,538 MB buys 2 vCPUs for the worker processes.
aws lambda create-function --function-name "$FUNCTION" --runtime python3.13 \
    --architectures x86_64 --handler primes.handler --zip-file fileb://examples/sam/bundle.zip \
    --role "$ROLE_ARN" --memory-size 3538 --timeout 900 \
    --durable-config '{"ExecutionTimeout": 86400, "RetentionPeriodInDays": 7}'
aws lambda wait function-active-v2 --function-name "$FUNCTION"

# Durable executions need a qualified ARN: publish a version and invoke it (or an alias).
VERSION=$(aws lambda publish-version --function-name "$FUNCTION" --query Version --output text)
aws lambda invoke --function-name "$FUNCTION:$VERSION" --invocation-type Event \
    --durable-execution-name primes-1 --cli-binary-format raw-in-base64-out \
    --payload '{"limit": 2000000, "chunks": 8}' /dev/stdout
