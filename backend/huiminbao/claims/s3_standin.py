"""A local S3 endpoint for tests, demos and the benchmark: moto's server mode on 127.0.0.1,
spoken to over HTTP by boto3 exactly as MinIO, OSS or COS would be.

    server = S3Server.start()              # a free port
    env = server.env("claim-documents")    # the S3_* variables; the bucket is created
    ...                                     # DocumentStoreConfig.from_env(env), or a served app
    server.stop()

moto is a development dependency, imported only when a server starts. Every moto server in one
process shares moto's in-memory state (its buckets and objects).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import boto3

if TYPE_CHECKING:
    from moto.server import ThreadedMotoServer

ACCESS_KEY_ID = "moto-access-key"
SECRET_ACCESS_KEY = "moto-secret-key"  # noqa: S105 - moto accepts any key
REGION = "us-east-1"


class S3Server:
    def __init__(self, server: ThreadedMotoServer, host: str, port: int) -> None:
        self._server = server
        self.host = host
        self.port = port
        self._running = True

    @classmethod
    def start(cls, host: str = "127.0.0.1", port: int = 0) -> S3Server:
        """A moto S3 server on ``host:port`` (``port=0``: a free one), answering once this
        returns."""
        from moto.server import ThreadedMotoServer

        server = ThreadedMotoServer(ip_address=host, port=port, verbose=False)
        server.start()
        bound_host, bound_port = server.get_host_and_port()
        return cls(server, bound_host, bound_port)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def env(self, bucket: str) -> dict[str, str]:
        """The ``S3_*`` variables of an app storing documents in ``bucket`` here (path-style,
        SSE AES256); the bucket is created if it does not exist."""
        client = boto3.client("s3", endpoint_url=self.url, region_name=REGION,
                              aws_access_key_id=ACCESS_KEY_ID,
                              aws_secret_access_key=SECRET_ACCESS_KEY)
        existing = {b.get("Name") for b in client.list_buckets().get("Buckets", [])}
        if bucket not in existing:
            client.create_bucket(Bucket=bucket)
        client.close()
        return {
            "S3_ENDPOINT_URL": self.url,
            "S3_BUCKET": bucket,
            "S3_ACCESS_KEY_ID": ACCESS_KEY_ID,
            "S3_SECRET_ACCESS_KEY": SECRET_ACCESS_KEY,
            "S3_REGION": REGION,
            "S3_SSE": "AES256",
            "S3_ADDRESSING_STYLE": "path",
        }

    def stop(self) -> None:
        """Stop answering (connections are refused afterwards); calling it twice is harmless."""
        if self._running:
            self._running = False
            self._server.stop()

    def __enter__(self) -> S3Server:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
