"""Catalog endpoints: the products open for enrollment and their details."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView
from flask_smorest import Blueprint

from huiminbao.catalog import services
from huiminbao.catalog.schemas import (
    ProductListSchema,
    ProductQuerySchema,
    ProductSchema,
    product_view,
)
from huiminbao.core.container import container

blp = Blueprint("catalog", __name__, url_prefix="/api/v1", description="产品目录")


@blp.route("/products")
class Products(MethodView):
    @blp.arguments(ProductQuerySchema, location="query")
    @blp.response(200, ProductListSchema)
    def get(self, query: dict[str, Any]) -> dict[str, Any]:
        """Products open for enrollment today in the city (default: this deployment's city)."""
        wired = container()
        city_code = query["city_code"] or wired.settings.city_code
        today = wired.clock.today()
        products = services.open_products(wired.db, wired.clock, city_code)
        return {"items": [product_view(product, today) for product in products]}


@blp.route("/products/<int:product_id>")
class ProductDetail(MethodView):
    @blp.response(200, ProductSchema)
    def get(self, product_id: int) -> dict[str, Any]:
        """One published product with its tiers, benefits, window and current terms."""
        wired = container()
        return product_view(services.get_product(wired.db, product_id), wired.clock.today())
