"""The subcommands: one module each, named as the command, registering its parser and handler.

`SUMMARIES` is each command's one-line help, in the order `llmdeploy --help` lists them. It lives
here, not in the modules, so the top-level help needs no command module imported: they import
Pulumi, boto3 and openai, a second of start-up that `llmdeploy --help` should not pay.
"""

SUMMARIES = {
    "plan": "show what a stack would create, with no cloud, CLI or Docker",
    "diff": "compare two plans (and their policy checks): what a change adds, removes and alters",
    "catalog": "the GPU instance catalogue: regenerate it from EC2, or list it",
    "capacity": "estimate whether a model fits an instance type, its KV cache and its cost",
    "models": "model configs for offline plans (`models fetch`), weights to S3 (`models mirror`)",
    "check": "run the policy pack over a stack, with no cloud, CLI or Docker",
    "preflight": "check AWS quotas, instance offerings, AMI and secrets before `pulumi up`",
    "verify": "check a deployed stack: targets or instance, models, chat, streaming, health, metrics",
    "rollout": "start or follow an instance refresh of the prod Auto Scaling group, cancel or roll back",
    "parity": "compare what the stacks serve (engine, model, revision, quantization, context, names)",
    "bench": "load test a stack by concurrency (GuideLLM): TTFT, ITL, throughput, SLO gate, cost",
}
