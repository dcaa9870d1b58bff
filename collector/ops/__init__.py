"""What an operator sees and runs: /health and the status page, `--status`, the summary and
weight estimate of `--validate-config`, the preflight and online checks, `--check-deps`, and the
notifications to systemd."""
