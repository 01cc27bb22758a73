"""``huiminbao disclosure refresh``: count the public figures of every published product now and
store them as the snapshot the disclosure endpoint answers from. Run it from cron every minute
or two; without it the endpoint counts again itself once its snapshot is older than
``snapshots.MAX_AGE`` (and that one request waits for the count).

Attach to the main command line with ``main.add_command(disclosure)``.
"""

from __future__ import annotations

import time

import click

from huiminbao.commands import wired_from_env


@click.group()
def disclosure() -> None:
    """Public disclosure figures (信息披露)."""


@disclosure.command("refresh")
@click.option("--product", "product_ids", type=int, multiple=True,
              help="only this published product (repeatable); default: every published one")
def refresh(product_ids: tuple[int, ...]) -> None:
    """Count the published products' public figures now and store them for the endpoint."""
    from huiminbao.core.clock import to_china_time
    from huiminbao.disclosure import snapshots
    from huiminbao.disclosure.services import published_products

    with wired_from_env(migrate=False) as wired:
        products = published_products(wired.db, wired.settings.city_code)
        if product_ids:
            unknown = set(product_ids) - {product.id for product in products}
            if unknown:
                raise click.ClickException(
                    f"not a published product: {', '.join(map(str, sorted(unknown)))}")
            products = [product for product in products if product.id in product_ids]
        for product in products:
            started = time.perf_counter()
            figures = snapshots.refresh(wired, product.id)
            click.echo(
                f"{product.id} {product.name}（{product.year}年度）: "
                f"{figures.enrolled_total:,} 人参保, 统计时点 "
                f"{to_china_time(figures.as_of).isoformat(timespec='seconds')}, "
                f"counted in {time.perf_counter() - started:.1f} s")
