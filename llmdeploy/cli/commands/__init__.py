"""One module per `llmdeploy` subcommand; each exposes `register(subparsers)`."""
