"""The demo city's product: 西湖益联保（演示版）, its window open relative to the clock."""

from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from huiminbao.catalog.coinsurance import WHOLE_BP
from huiminbao.catalog.domain import BenefitCategory, ProductStatus, one_year_from
from huiminbao.catalog.models import (
    Benefit,
    PreExistingTerm,
    Product,
    ProductHelp,
    ProductInsurer,
    ProductTerms,
    Tier,
)
from huiminbao.core.clock import Clock
from huiminbao.core.db import Database

DEMO_PRODUCT_CODE = "XHYLB-DEMO"
DEMO_CITY_CODE = "330100"
YUAN = 100  # fen per yuan

NOTICE = (
    "本产品为商业保险，不是基本医疗保险，也不是政府举办的社会保险。"
    "由商业保险公司承保，自愿参保，保险责任以保险条款为准。"
    "参保不设年龄、既往病史、健康状况、职业等条件，无需健康告知，保费与个人健康状况无关。"
)
COVERAGE = (
    "一、医保范围内合规费用：参保人在保障期间内发生的、符合基本医疗保险支付范围、"
    "经基本医疗保险、大病保险、医疗救助报销后仍需个人负担的住院及规定病种门诊费用，"
    "扣除年度免赔额后按比例赔付。\n"
    "二、医保范围外合理费用：列入本产品合理费用清单的诊疗项目、药品和医用材料费用，"
    "扣除该项年度免赔额后按比例赔付。\n"
    "三、特定药品费用：列入本产品特药清单的药品，在定点药店或医院购买、符合用药条件的，按比例赔付。"
)
CLAIM_SCOPE = (
    "在本市医保定点医疗机构就医并完成基本医保结算的，可通过“一站式”结算直接赔付；"
    "其他情形可在线提交理赔申请，上传发票及费用清单等材料。"
    "同一保障期间内各项免赔额、封顶线按年度累计计算。"
)
ELIGIBILITY = (
    "浙江省本级和杭州市职工基本医疗保险、城乡居民基本医疗保险参保人员",
)
EXCLUSIONS = (
    "以下费用不予赔付：非医保定点医疗机构发生的费用；保障期间开始前或结束后发生的费用；"
    "美容、整形、矫形、健康体检、预防接种等非治疗性费用；"
    "已由其他商业保险或第三方赔付的部分；不在合理费用清单和特药清单内的医保范围外费用；"
    "因违法犯罪、醉酒、吸毒等造成的费用。"
)

# (code, name, premium yuan, {category: (deductible yuan, ratio basis points, cap yuan)})
DEMO_TIERS = (
    ("standard", "标准版", 150, {
        BenefitCategory.COMPLIANT: (20_000, 7_500, 1_000_000),
        BenefitCategory.REASONABLE: (20_000, 7_000, 1_000_000),
        BenefitCategory.SPECIAL_DRUG: (0, 8_000, 1_000_000),
    }),
    ("premium", "升级版", 299, {
        BenefitCategory.COMPLIANT: (10_000, 8_500, 1_500_000),
        BenefitCategory.REASONABLE: (10_000, 7_500, 1_500_000),
        BenefitCategory.SPECIAL_DRUG: (0, 8_500, 1_500_000),
    }),
)


# The product's 特药 list and 合理费用 list (003 三(四)): (code, name). Items a bill lists under
# other codes are not covered.
DEMO_SPECIAL_DRUGS = (
    ("TY001", "信迪利单抗注射液"),
    ("TY002", "阿来替尼胶囊"),
    ("TY003", "奥希替尼片"),
    ("TY004", "帕博利珠单抗注射液"),
    ("TY005", "伊布替尼胶囊"),
)
# Designated pharmacies for special drugs, and the drugs' listed indications (ICD-10 prefixes).
DEMO_PHARMACIES = (
    ("YD3301001", "老百姓大药房（特药服务中心·延安路店）", "杭州市上城区延安路128号"),
    ("YD3301002", "华东医药特药药房（庆春路店）", "杭州市上城区庆春路56号"),
)
DEMO_INDICATIONS = (
    ("TY001", "C81", "霍奇金淋巴瘤"), ("TY001", "C34", "非小细胞肺癌"),
    ("TY001", "C22", "肝细胞癌"), ("TY001", "C16", "胃癌"),
    ("TY002", "C34", "ALK阳性非小细胞肺癌"), ("TY003", "C34", "EGFR突变非小细胞肺癌"),
    ("TY004", "C34", "非小细胞肺癌"), ("TY004", "C43", "黑色素瘤"),
    ("TY005", "C91", "慢性淋巴细胞白血病"), ("TY005", "C83", "套细胞淋巴瘤"),
)
# What residents read in the 特药 search: each drug's indications and pharmacies, from the
# same lists the claims check (one source for both).
_PHARMACY_NAMES = tuple(name for _, name, _ in DEMO_PHARMACIES)
DEMO_DRUG_TERMS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    drug: (tuple(label for code, _, label in DEMO_INDICATIONS if code == drug), _PHARMACY_NAMES)
    for drug in dict.fromkeys(code for code, _, _ in DEMO_INDICATIONS)
}
# Pre-existing conditions (既往症) the demo product pays at 70 % (Hangzhou's floor) and whose
# out-of-policy items it does not cover: (ICD-10 prefix, name, compliant, reasonable, drug).
DEMO_PRE_EXISTING: tuple[tuple[str, str, int | None, int | None, int | None], ...] = (
    ("C22", "肝癌", 7_000, None, 7_000),
    ("C34", "肺癌", 7_000, None, 7_000),
    ("N18", "慢性肾病", 7_000, None, 7_000),
)
DEMO_REASONABLE_ITEMS = (
    ("HL001", "质子重离子放射治疗"),
    ("HL002", "CAR-T细胞治疗"),
    ("HL003", "进口心脏支架"),
    ("HL004", "达芬奇机器人辅助手术"),
    ("HL005", "进口人工关节"),
)


def demo_dates(today: date) -> tuple[date, date, date, date]:
    opens_on = today - timedelta(days=7)
    closes_on = today + timedelta(days=45)
    coverage_starts_on = closes_on + timedelta(days=1)
    return opens_on, closes_on, coverage_starts_on, one_year_from(coverage_starts_on)


def ensure_demo_product(db: Database, clock: Clock) -> Product:
    """Create the demo product if it is missing; re-align its dates if its window has passed.

    Idempotent: running it again on a database whose window is still open changes nothing.
    """
    today = clock.today()
    opens_on, closes_on, starts_on, ends_on = demo_dates(today)
    with db.transaction() as session:
        product = session.scalars(
            select(Product).where(Product.code == DEMO_PRODUCT_CODE)
        ).one_or_none()
        if product is None:
            product = Product(
                code=DEMO_PRODUCT_CODE,
                city_code=DEMO_CITY_CODE,
                city_name="杭州市",
                name="西湖益联保（演示版）",
                insurer="演示保险股份有限公司杭州分公司（共保体主承保）",
                status=ProductStatus.PUBLISHED.value,
                payable_balances="prior_years",
                first_year=True,
                subsidized_tier_code="standard",
                eligibility_conditions="\n".join(ELIGIBILITY),
                created_at=clock.now(),
                year=starts_on.year,
                window_opens_on=opens_on,
                window_closes_on=closes_on,
                coverage_starts_on=starts_on,
                coverage_ends_on=ends_on,
            )
            for position, (code, name, premium_yuan, benefits) in enumerate(DEMO_TIERS):
                product.tiers.append(Tier(
                    code=code, name=name, position=position, premium_fen=premium_yuan * YUAN,
                    benefits=[
                        Benefit(category=category.value, position=index,
                                deductible_fen=deductible * YUAN, ratio_bp=ratio_bp,
                                cap_fen=cap * YUAN)
                        for index, (category, (deductible, ratio_bp, cap))
                        in enumerate(benefits.items())
                    ],
                ))
            product.terms.append(ProductTerms(
                version=f"{starts_on.year}.1", notice=NOTICE, coverage=COVERAGE,
                claim_scope=CLAIM_SCOPE, exclusions=EXCLUSIONS, published_at=clock.now(),
            ))
            product.coinsurers.append(ProductInsurer(position=0, insurer=product.insurer,
                                                     share_bp=WHOLE_BP, is_lead=True))
            product.pre_existing.extend(
                PreExistingTerm(position=index, code_prefix=code, name=name,
                                compliant_ratio_bp=compliant, reasonable_ratio_bp=reasonable,
                                special_drug_ratio_bp=drug)
                for index, (code, name, compliant, reasonable, drug)
                in enumerate(DEMO_PRE_EXISTING))
            session.add(product)
            session.flush()
        elif not product.window.is_open_on(today):
            product.window_opens_on, product.window_closes_on = opens_on, closes_on
            product.coverage_starts_on, product.coverage_ends_on = starts_on, ends_on
            product.year = starts_on.year
        _ensure_item_lists(session, product.id)
        _ensure_special_drug_rules(session, product.id)
        _ensure_help(session, product.id, clock)
        return product


def _ensure_special_drug_rules(session: Session, product_id: int) -> None:
    """Seed the demo pharmacies and indications once; what is there is left as it is."""
    from huiminbao.claims.models import ProductDrugIndication, ProductPharmacy

    if session.scalars(select(ProductPharmacy.id).where(ProductPharmacy.product_id == product_id)
                       .limit(1)).first() is None:
        session.add_all(ProductPharmacy(product_id=product_id, code=code, name=name,
                                        address=address)
                        for code, name, address in DEMO_PHARMACIES)
    if session.scalars(select(ProductDrugIndication.id).where(
            ProductDrugIndication.product_id == product_id).limit(1)).first() is None:
        session.add_all(ProductDrugIndication(product_id=product_id, drug_code=drug,
                                              icd_prefix=prefix, label=label)
                        for drug, prefix, label in DEMO_INDICATIONS)


DEMO_HOTLINE = "0571-12345"
DEMO_SERVICE_HOURS = "工作日 8:30-17:00，周六 9:00-12:00"
DEMO_SERVICE_POINTS = (
        {"name": "市民中心医保服务窗口", "address": "杭州市上城区解放东路18号市民中心C座1楼",
         "hours": "工作日 9:00-17:00", "map_text": "在地图中查看市民中心"},
        {"name": "西湖区医保经办大厅", "address": "杭州市西湖区文三路120号",
         "hours": "工作日 8:30-16:30", "map_text": "在地图中查看西湖区经办大厅"},
)
DEMO_FAQ = (
        {"question": "有既往病史可以参保吗？",
         "answer": "可以。本产品不设年龄、既往病史和健康状况限制，无需健康告知。"},
        {"question": "可以用医保个人账户给家人缴费吗？",
         "answer": "职工医保参保人可以用历年账户为本人及配偶、子女、父母缴费，"
                   "在“为家人投保”中选择家人即可。"},
        {"question": "住院后怎么申请理赔？",
         "answer": "在本市定点医院出院结算时可一站式直接赔付；其他情况可在“理赔”中在线申请。"},
)


def _ensure_help(session: Session, product_id: int, clock: Clock) -> None:
    """Seed the demo hotline, service points and FAQ once; the operator's edits are kept."""
    if session.get(ProductHelp, product_id) is not None:
        return
    session.add(ProductHelp(
        product_id=product_id, hotline=DEMO_HOTLINE, service_hours=DEMO_SERVICE_HOURS,
        service_points=[dict(point) for point in DEMO_SERVICE_POINTS],
        faq=[dict(item) for item in DEMO_FAQ], updated_at=clock.now()))


def _ensure_item_lists(session: Session, product_id: int) -> None:
    """Seed the demo 特药 and 合理 lists once (also on databases created before they existed);
    lists that are already there are left as they are."""
    from huiminbao.claims.models import ProductItem

    existing = session.scalars(select(ProductItem).where(ProductItem.product_id == product_id)
                               ).all()
    if not existing:
        for kind, items in (("special_drug", DEMO_SPECIAL_DRUGS),
                            ("reasonable", DEMO_REASONABLE_ITEMS)):
            session.add_all(ProductItem(product_id=product_id, kind=kind, code=code, name=name)
                            for code, name in items)
        session.flush()
        existing = session.scalars(select(ProductItem).where(
            ProductItem.product_id == product_id)).all()
    for item in existing:  # lists seeded before indications existed get them once
        terms = DEMO_DRUG_TERMS.get(item.code)
        if item.kind == "special_drug" and terms and not item.indications:
            item.indications, item.pharmacies = "\n".join(terms[0]), "\n".join(terms[1])
