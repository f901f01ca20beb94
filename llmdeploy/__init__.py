"""llmdeploy: LLM serving from a laptop to production with one Pulumi codebase."""

__version__ = "0.1.0"
