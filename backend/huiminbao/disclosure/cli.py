"""``huiminbao disclosure refresh``: count the public figures of every published product now and
store them as the snapshot the disclosure endpoint answers from. Run it from cron every minute
or two; without it the endpoint counts again itself once its snapshot is older than
``snapshots.MAX_AGE`` (and that one request waits for the count). Each run also stores a few
of the day ends missing since the product's window opened (``snapshots.DAY_ENDS_PER_RUN`` per
product, newest first); ``backfill`` stores a range of them at once.

Attach to the main command line with ``main.add_command(disclosure)``.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import date, datetime
from typing import TYPE_CHECKING

import click

from huiminbao.commands import wired_from_env

if TYPE_CHECKING:
    from huiminbao.catalog.models import Product
    from huiminbao.core.container import Container


@click.group()
def disclosure() -> None:
    """Public disclosure figures (信息披露)."""


@disclosure.command("refresh")
@click.option("--product", "product_ids", type=int, multiple=True,
              help="only this published product (repeatable); default: every published one")
@click.option("--day-ends", "day_ends", type=click.IntRange(min=0),
              default=None, help="missing day ends to store per product in this run "
                                 "(default: snapshots.DAY_ENDS_PER_RUN)")
def refresh(product_ids: tuple[int, ...], day_ends: int | None) -> None:
    """Count the published products' public figures now and store them for the endpoint;
    store a few missing day-end figures too."""
    from huiminbao.core.clock import to_china_time
    from huiminbao.disclosure import snapshots

    with wired_from_env(migrate=False) as wired:
        products = _products(wired, product_ids)
        for product in products:
            started = time.perf_counter()
            figures = snapshots.refresh(wired, product.id)
            click.echo(
                f"{product.id} {product.name}（{product.year}年度）: "
                f"{figures.enrolled_total:,} 人参保, 统计时点 "
                f"{to_china_time(figures.as_of).isoformat(timespec='seconds')}, "
                f"counted in {time.perf_counter() - started:.1f} s")
        for product in products:
            limit = snapshots.DAY_ENDS_PER_RUN if day_ends is None else day_ends
            _echo_day_ends(product, snapshots.store_missing_day_ends(wired, product, limit))


@disclosure.command("backfill")
@click.option("--product", "product_ids", type=int, multiple=True,
              help="only this published product (repeatable); default: every published one")
@click.option("--from", "first", type=click.DateTime(["%Y-%m-%d"]), default=None,
              help="first day (China time); default: the day the product's window opened")
@click.option("--to", "last", type=click.DateTime(["%Y-%m-%d"]), default=None,
              help="last day (China time); default: the latest day ended")
def backfill(product_ids: tuple[int, ...], first: datetime | None,
             last: datetime | None) -> None:
    """Store every missing day-end figure (截至每日24时) of the days in a range."""
    from huiminbao.disclosure import snapshots

    with wired_from_env(migrate=False) as wired:
        for product in _products(wired, product_ids):
            _echo_day_ends(product, snapshots.store_missing_day_ends(
                wired, product, None, first.date() if first else None,
                last.date() if last else None))


def _products(wired: Container, product_ids: tuple[int, ...]) -> Sequence[Product]:
    """The published products, or those of ``product_ids`` (each must be published)."""
    from huiminbao.disclosure.services import published_products

    products = published_products(wired.db, wired.settings.city_code)
    if product_ids:
        unknown = set(product_ids) - {product.id for product in products}
        if unknown:
            raise click.ClickException(
                f"not a published product: {', '.join(map(str, sorted(unknown)))}")
        products = [product for product in products if product.id in product_ids]
    return products


def _echo_day_ends(product: Product, days: Sequence[date]) -> None:
    if days:
        click.echo(f"{product.id} {product.name}: day ends stored for "
                   f"{', '.join(day.isoformat() for day in sorted(days))}")
