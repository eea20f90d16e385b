"""Entry points: the worker, the HTTP ingress and operator API, the CLI, the local stack."""
