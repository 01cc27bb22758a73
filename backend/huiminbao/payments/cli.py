"""``huiminbao wechatpay …``: the local WeChat Pay v3 stand-in server, for trying the real
adapter on one machine (never in production)."""

from __future__ import annotations

import shlex
import threading

import click

from huiminbao.payments.gateway.port import NOTIFY_PATH


@click.group()
def wechatpay() -> None:
    """WeChat Pay API v3 (微信支付)."""


@wechatpay.command("serve-standin")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=0, type=int, show_default=True, help="0: any free port")
@click.option("--notify-url", default=f"http://127.0.0.1:8000{NOTIFY_PATH}",
              show_default=True, help="the app's notification endpoint")
def serve_standin(host: str, port: int, notify_url: str) -> None:
    """Serve a local WeChat Pay v3 stand-in and print the WECHATPAY_* variables that point the
    app at it (keys are made now and live until it stops)."""
    from huiminbao.payments.wechatpay_v3_standin import WechatPayStandin

    standin = WechatPayStandin().start(host, port)
    try:
        click.echo(f"# 微信支付 v3 本地模拟服务：{standin.url}（Ctrl-C 停止）")
        for name, value in standin.env(notify_url).items():
            click.echo(f"export {name}={shlex.quote(value)}")
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        standin.stop()
