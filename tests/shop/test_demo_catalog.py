"""The demo catalog loader: rules, idempotence, --reload, pictures; and the real retail file."""

import gzip
from decimal import Decimal
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command

from via.shop.accounts.models import User
from via.shop.catalog.categorize import categorize
from via.shop.catalog.models import Category, Product, ProductImage
from via.shop.orders.models import Order, OrderStatus

pytestmark = pytest.mark.django_db

HEADER = "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country\n"
ROWS = [
    "536365,85123A,WHITE HANGING HEART T-LIGHT HOLDER,6,2010-12-01 08:26:00,2.55,17850.0,"
    "United Kingdom",
    "536365,71053,WHITE METAL LANTERN,6,2010-12-01 08:26:00,3.39,17850.0,United Kingdom",
    "536365,POST,POSTAGE,1,2010-12-01 08:26:00,18.00,17850.0,United Kingdom",
    "536366,22633,HAND WARMER UNION JACK,6,2010-12-01 08:28:00,1.85,,United Kingdom",
    "536367,71053,WHITE METAL LANTERN,2,2010-12-02 09:00:00,3.39,13047.0,France",
    "536367,71053,WHITE METAL LANTERN,1,2010-12-02 09:00:00,3.75,13047.0,France",
    "536368,22139,,56,2010-12-02 11:52:00,0.0,,United Kingdom",
    "536369,22139,RETROSPOT TEA SET CERAMIC 11 PC ,3,2010-12-03 10:00:00,4.95,13047.0,France",
    "536370,22139,amazon,-20,2010-12-03 11:00:00,0.0,,United Kingdom",
    "C536371,71053,WHITE METAL LANTERN,-1,2010-12-04 10:00:00,3.39,13047.0,France",
]


@pytest.fixture
def retail_file(tmp_path) -> Path:
    path = tmp_path / "retail.csv.gz"
    with gzip.open(path, "wt", encoding="utf-8") as fh:
        fh.write(HEADER + "\n".join(ROWS) + "\n")
    return path


@pytest.fixture(autouse=True)
def media(tmp_path, settings):
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


def test_rules_applied_to_a_small_file(retail_file, media):
    call_command("load_demo_catalog", path=retail_file, stdout=open("/dev/null", "w"))
    assert set(Product.objects.values_list("code", flat=True)) == {
        "85123A",
        "71053",
        "22633",
        "22139",
    }
    lantern = Product.objects.get(code="71053")
    assert lantern.name == "WHITE METAL LANTERN"
    assert lantern.price == Decimal("3.39")  # the most frequent price, not the last one
    assert lantern.popularity == 6 + 2 + 1
    assert (lantern.category.parent.name, lantern.category.name) == (
        "Home & living",
        "Candles & lights",
    )
    tea = Product.objects.get(code="22139")
    assert tea.name == "RETROSPOT TEA SET CERAMIC 11 PC"  # not the "amazon" adjustment note
    assert tea.category.name == "Tea & coffee"
    assert lantern.seller.is_demo and lantern.seller.has_role("seller")

    orders = {o.number: o for o in Order.objects.all()}
    assert set(orders) == {"R536365", "R536366", "R536367", "R536369", "RC536371"}
    assert orders["R536365"].user.username == "customer-17850"
    assert orders["R536365"].lines.count() == 2  # postage is not a product
    assert orders["R536366"].user.username == "guest-checkouts"
    assert orders["RC536371"].status == OrderStatus.CANCELLED
    assert orders["R536367"].status == OrderStatus.DELIVERED
    assert orders["R536367"].total == Decimal("2") * Decimal("3.39") + Decimal("3.75")

    images = ProductImage.objects.all()
    assert images.count() == 4
    svg = (media / images.get(product=lantern).image.name).read_text()
    assert svg.startswith("<svg") and "White Metal Lantern" in svg


def row_counts() -> tuple[int, int, int, int]:
    return (
        Product.objects.count(),
        Order.objects.count(),
        User.objects.count(),
        Category.objects.count(),
    )


def test_load_is_idempotent_and_reload_starts_afresh(retail_file):
    call_command("load_demo_catalog", path=retail_file, stdout=open("/dev/null", "w"))
    counts = row_counts()
    first_ids = set(Product.objects.values_list("pk", flat=True))
    call_command("load_demo_catalog", path=retail_file, stdout=open("/dev/null", "w"))
    assert row_counts() == counts
    assert set(Product.objects.values_list("pk", flat=True)) == first_ids
    Product.objects.filter(code="71053").update(stock=0, name="CHANGED")
    call_command("load_demo_catalog", path=retail_file, reload=True, stdout=open("/dev/null", "w"))
    assert row_counts() == counts
    assert Product.objects.get(code="71053").name == "WHITE METAL LANTERN"
    assert not set(Product.objects.values_list("pk", flat=True)) & first_ids


def test_reload_keeps_real_accounts(retail_file):
    real = User.objects.create(username="real-person", email="real@example.com")
    call_command("load_demo_catalog", path=retail_file, stdout=open("/dev/null", "w"))
    call_command("load_demo_catalog", path=retail_file, reload=True, stdout=open("/dev/null", "w"))
    assert User.objects.filter(pk=real.pk).exists()


def test_missing_file_is_a_clear_error(tmp_path):
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="demo data not found"):
        call_command("load_demo_catalog", path=tmp_path / "nope.csv.gz")


@pytest.mark.parametrize(
    "name, category, subcategory",
    [
        ("PAPER CHAIN KIT VINTAGE CHRISTMAS", "Seasonal", "Christmas"),
        ("60 CAKE CASES VINTAGE CHRISTMAS", "Seasonal", "Christmas"),
        ("72 SWEETHEART FAIRY CAKE CASES", "Party", "Cake cases & baking party"),
        ("ALARM CLOCK BAKELIKE RED", "Home & living", "Clocks"),
        ("BLUE OWL SOFT TOY", "Toys & kids", "Toys & games"),
        ("AMBER CRYSTAL DROP EARRINGS", "Fashion & jewellery", "Jewellery"),
        ("JUMBO BAG RED RETROSPOT", "Fashion & jewellery", "Bags & purses"),
        ("KNITTED UNION FLAG HOT WATER BOTTLE", "Home & living", "Textiles & warmth"),
        ("ENGLISH ROSE GARDEN SECATEURS", "Garden & outdoor", "Garden"),
        ("SOMETHING UNHEARD OF", "Home & living", "Other gifts"),
    ],
)
def test_category_rules(name, category, subcategory):
    rule = categorize(name)
    assert (rule.category, rule.subcategory) == (category, subcategory)


def test_real_retail_file(media):
    path = Path(settings.DATA_DIR) / "retail/online_retail_2010-12_2011-01.csv.gz"
    if not path.exists():
        pytest.fail(f"{path} is not here; set VIA_DATA to the shared data folder")
    call_command("load_demo_catalog", stdout=open("/dev/null", "w"))
    assert Product.objects.count() == 2935
    # 3,056 invoices less those with no sale line left by the rules (postage only, adjustments).
    assert Order.objects.filter(is_demo=True).count() == 2802
    assert User.objects.filter(username__startswith="customer-").count() == 1259
    assert Product.objects.filter(category__parent__isnull=True).count() == 0
    assert User.objects.filter(groups__name="seller", is_demo=True).count() == 4
    assert ProductImage.objects.count() == 2935
    # Out-of-stock products exist (about 1 in 12) and no stock is negative.
    out = Product.objects.filter(stock=0).count()
    assert 150 < out < 350
