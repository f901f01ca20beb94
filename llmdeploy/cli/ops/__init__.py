"""Operations on deployed AWS stacks with boto3: preflight, verify, rollout.

`aws` makes clients (standard-mode retries) and translates their errors;
`checks` runs and reports the checks of `preflight` and `verify`; `stack`
reads a stack's config; `outputs` reads a deployed stack's outputs.
"""
