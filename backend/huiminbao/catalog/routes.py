"""Catalog endpoints: the products open for enrollment and their details; administrators
configure the year's product."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView
from flask_smorest import Blueprint

from huiminbao.audit.services import AuditActor
from huiminbao.catalog import help as product_help
from huiminbao.catalog import services
from huiminbao.catalog.domain import ProductDraft
from huiminbao.catalog.schemas import (
    HelpInSchema,
    HelpSchema,
    ProductDraftSchema,
    ProductListSchema,
    ProductOnDay,
    ProductQuerySchema,
    ProductSchema,
)
from huiminbao.catalog.versions import product_version
from huiminbao.core.container import container
from huiminbao.core.etags import ETAG_HEADER, IF_MATCH, if_match, tagged
from huiminbao.identity.auth import current_actor, staff_only
from huiminbao.identity.domain import Role

blp = Blueprint("catalog", __name__, url_prefix="/api/v1", description="产品目录")


@blp.route("/products")
class Products(MethodView):
    @blp.arguments(ProductQuerySchema, location="query")
    @blp.response(200, ProductListSchema)
    def get(self, query: dict[str, Any]) -> dict[str, Any]:
        """The city's products (default: this deployment's city) from the day their enrollment
        window opens to the last day of their coverage, newest window first.

        Changed from "open for enrollment only" (issue 17): an insured person looks up the
        benefits and terms of the year they are covered for after the window has closed;
        ``enrollment.is_open`` says whether one may still enroll."""
        wired = container()
        city_code = query["city_code"] or wired.settings.city_code
        today = wired.clock.today()
        products = services.visible_products(wired.db, wired.clock, city_code)
        return {"items": [ProductOnDay(product, today) for product in products]}


@blp.route("/products/<int:product_id>")
class ProductDetail(MethodView):
    @blp.response(200, ProductSchema)
    def get(self, product_id: int) -> ProductOnDay:
        """One published product with its tiers, benefits, window and current terms."""
        wired = container()
        return ProductOnDay(services.get_product(wired.db, product_id), wired.clock.today())


def _caller() -> AuditActor:
    actor = current_actor()
    return AuditActor(actor.account_id, actor.role.value)


@blp.route("/admin/products")
class AdminProducts(MethodView):
    @staff_only(Role.ADMIN)
    @blp.arguments(ProductQuerySchema, location="query")
    @blp.response(200, ProductListSchema)
    @blp.alt_response(401, description="Not signed in")
    @blp.alt_response(403, description="Not an administrator")
    def get(self, query: dict[str, Any]) -> dict[str, Any]:
        """All products, drafts included, newest first (administrators)."""
        wired = container()
        today = wired.clock.today()
        products = services.all_products(wired.db, query["city_code"])
        return {"items": [ProductOnDay(product, today) for product in products]}

    @staff_only(Role.ADMIN)
    @blp.arguments(ProductDraftSchema)
    @blp.response(201, ProductSchema)
    @blp.alt_response(401, description="Not signed in")
    @blp.alt_response(403, description="Not an administrator")
    @blp.alt_response(422, description=(
        "The product breaks a rule (code `invalid_product`): `errors` maps every failing field "
        "to its Chinese message(s), all at once; `message` is 产品配置不符合规则：共N项"
    ))
    def post(self, draft: ProductDraft) -> ProductOnDay:
        """Configure a city's product for a year (administrators).

        Checked against DESIGN.md §2: deductible at most ¥20,000, every ratio at least 70 %,
        cap at least ¥1,000,000 (003 三(五)); first-year window at most two calendar months
        (003 三(八)); no health question and no health, age, history or occupation condition
        (002 二(一), 003 二(一)); terms that say it is commercial insurance, not basic
        insurance (002 四(二)). Nothing is stored when any rule fails.
        """
        by = _caller()
        wired = container()
        product = services.create_product(wired, by, draft)
        return ProductOnDay(product, wired.clock.today())


@blp.route("/admin/products/<int:product_id>")
class AdminProductDetail(MethodView):
    @staff_only(Role.ADMIN)
    @blp.response(200, ProductSchema, headers=ETAG_HEADER)
    @blp.alt_response(401, description="Not signed in")
    @blp.alt_response(403, description="Not an administrator")
    def get(self, product_id: int) -> Any:
        """One product in any status (administrators), with its version as `ETag`: editing or
        publishing it sends that back as `If-Match`."""
        wired = container()
        product = services.get_any_product(wired.db, product_id)
        return tagged(ProductOnDay(product, wired.clock.today()), product_version(product))


@blp.route("/admin/products/<int:product_id>/publish")
class PublishProduct(MethodView):
    @staff_only(Role.ADMIN)
    @blp.response(200, ProductSchema)
    @blp.alt_response(401, description="Not signed in")
    @blp.alt_response(403, description="Not an administrator")
    @blp.alt_response(409, description="The product is not a draft")
    @blp.alt_response(412, description="`If-Match` names a version another administrator "
                      "has since replaced")
    @blp.alt_response(422, description="The city already has a published product that year")
    @blp.doc(parameters=[IF_MATCH])
    def post(self, product_id: int) -> ProductOnDay:
        """Publish a draft product (administrators); with `If-Match`, only the version the
        administrator reviewed (the editor sends it)."""
        by = _caller()
        wired = container()
        product = services.publish_product(wired, by, product_id, if_match())
        return ProductOnDay(product, wired.clock.today())


# ---------------------------------------------------------------- help (客服与投诉)


@blp.route("/help")
class PublicHelp(MethodView):
    @blp.response(200, HelpSchema)
    def get(self) -> product_help.Help:
        """The current product's hotline, service hours, service points and FAQ (no login):
        what every resident page's 客服与投诉 shows. `configured` is false until set."""
        return product_help.public_help(container())


@blp.route("/admin/products/<int:product_id>/help")
class ProductHelpSettings(MethodView):
    @staff_only(Role.ADMIN)
    @blp.response(200, HelpSchema)
    def get(self, product_id: int) -> product_help.Help:
        """The product's help settings (administrators)."""
        return product_help.help_of(container(), product_id)

    @staff_only(Role.ADMIN)
    @blp.arguments(HelpInSchema)
    @blp.response(200, HelpSchema)
    @blp.alt_response(422, description="A field missing or too long, or a malformed hotline")
    def put(self, body: dict[str, Any], product_id: int) -> product_help.Help:
        """Set the hotline, service hours, service points (name, address, hours, map link
        text) and FAQ; residents see them at once."""
        actor = current_actor()
        return product_help.set_help(container(), AuditActor(actor.account_id, actor.role.value),
                                     product_id, body)
