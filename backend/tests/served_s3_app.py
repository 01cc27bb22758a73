"""An app server whose claim documents live in the object store the S3_* variables describe:
``python -m tests.served_s3_app --port N`` (settings from the environment as ``huiminbao serve``
reads them; Flask's threaded server). A stand-in for the integration tests until ``create_app``
wires ``DocumentStoreConfig.from_env`` itself; then ``huiminbao serve`` replaces it.
"""

from __future__ import annotations

import argparse
import os
from dataclasses import replace

from huiminbao.app import build_container, create_app
from huiminbao.claims.object_store import DocumentStoreConfig, S3DocumentStore
from huiminbao.core.config import Settings


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args(argv)
    settings = Settings.from_env()
    config = DocumentStoreConfig.from_env(os.environ)
    if config is None:
        raise SystemExit("S3_* variables are not set")
    print(f"claim documents: {config.describe()}", flush=True)
    container = replace(build_container(settings), documents=S3DocumentStore(config))
    create_app(container=container).run(host=args.host, port=args.port, threaded=True)


if __name__ == "__main__":
    main()
