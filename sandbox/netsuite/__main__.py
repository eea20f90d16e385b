"""``python -m sandbox.netsuite``: serve the sandbox with uvicorn on 127.0.0.1."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import uvicorn

from sandbox.netsuite.server import build_app, config_from_env


def main(argv: list[str] | None = None) -> None:
    defaults = config_from_env()
    parser = argparse.ArgumentParser(prog="python -m sandbox.netsuite")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8020)
    parser.add_argument("--db", type=Path, default=defaults.db_path)
    parser.add_argument("--account-id", default=defaults.account_id)
    parser.add_argument("--concurrency-limit", type=int, default=defaults.concurrency_limit)
    parser.add_argument("--latency-ms", type=int, default=defaults.latency_ms)
    parser.add_argument("--no-seed", action="store_true")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO)
    config = defaults.model_copy(
        update={
            "db_path": args.db,
            "account_id": args.account_id,
            "concurrency_limit": args.concurrency_limit,
            "latency_ms": args.latency_ms,
            "seed_catalog": defaults.seed_catalog and not args.no_seed,
        }
    )
    uvicorn.run(build_app(config), host=args.host, port=args.port, log_level="info")


if __name__ == "__main__":
    main()
