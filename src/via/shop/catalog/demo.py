"""The demo catalog: the real retailer of shared/data/retail loaded into the shop.

Rules (docs/shop.md says the same, with the counts):
- a product is a stock code; codes for postage, fees, discounts and manual adjustments
  (NON_PRODUCT_CODES) are not products; a code needs a description on a sale line with a
  positive price;
- name: the most frequent description on its sale lines; price: the most frequent unit price on
  those lines (the lowest on a tie); created_at: its first sale; popularity: units sold;
- category: categorize.categorize(name); seller: one of four demo sellers by top-level category;
- stock (the data has none): a number fixed by the stock code's hash, 0 for about 1 in 12;
- each invoice with a customer id becomes a delivered order of that customer's demo account
  (a cancellation invoice, starting with C, a cancelled one); invoices with no customer id go to
  one demo account, "guest-checkouts"; lines of codes that are not products, lines with a zero
  price and negative lines outside cancellations (stock adjustments) are left out, and an
  invoice left with no line is not an order.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from datetime import timezone as dt_timezone
from decimal import Decimal
from pathlib import Path

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import connection, transaction
from django.utils.text import slugify

from via.shop.accounts.models import Role, User
from via.shop.accounts.services import grant_role
from via.shop.cart.models import Cart
from via.shop.orders.models import Order, OrderLine, OrderStatus, Payment, PaymentMethod

from .categorize import categorize, category_tree
from .images import product_svg
from .models import Category, Product, ProductImage, ProductStatus

RETAIL_FILE = "retail/online_retail_2010-12_2011-01.csv.gz"
NON_PRODUCT_CODES = {
    "POST",
    "DOT",
    "M",
    "C2",
    "D",
    "S",
    "BANK CHARGES",
    "AMAZONFEE",
    "CRUK",
    "PADS",
    "B",
}
SELLERS = (
    ("demo-seller-home", "Hearts & Home Ltd", ("Home & living", "Garden & outdoor")),
    ("demo-seller-kitchen", "Kitchen Table Co.", ("Kitchen & dining", "Party")),
    ("demo-seller-paper", "Paper Lantern Studio", ("Stationery & gifts", "Seasonal")),
    ("demo-seller-toys", "Little Owl Toys & Trinkets", ("Toys & kids", "Fashion & jewellery")),
)
GUEST_ACCOUNT = "guest-checkouts"


@dataclass
class ProductFacts:
    code: str
    names: Counter = field(default_factory=Counter)
    prices: Counter = field(default_factory=Counter)
    first_sold: datetime | None = None
    units: int = 0


@dataclass
class LoadReport:
    products: int
    categories: int
    sellers: int
    customers: int
    orders: int
    order_lines: int
    skipped: bool = False


def retail_path() -> Path:
    return Path(settings.DATA_DIR) / RETAIL_FILE


def read_rows(path: Path) -> list[dict]:
    with gzip.open(path, "rt", encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def parse_time(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%d %H:%M:%S").replace(tzinfo=dt_timezone.utc)


def product_facts(rows: list[dict]) -> dict[str, ProductFacts]:
    facts: dict[str, ProductFacts] = {}
    for row in rows:
        code = row["StockCode"].strip()
        if code.upper() in NON_PRODUCT_CODES:
            continue
        quantity, price = int(row["Quantity"]), Decimal(row["UnitPrice"])
        description = row["Description"].strip()
        if quantity <= 0 or price <= 0 or not description or row["InvoiceNo"].startswith("C"):
            continue
        f = facts.setdefault(code, ProductFacts(code))
        f.names[description] += 1
        f.prices[price] += 1
        f.units += quantity
        sold = parse_time(row["InvoiceDate"])
        if f.first_sold is None or sold < f.first_sold:
            f.first_sold = sold
    return facts


def demo_stock(code: str) -> int:
    h = int(hashlib.sha256(code.encode()).hexdigest()[:8], 16)
    return 0 if h % 12 == 0 else 1 + h % 60


def most_common(counter: Counter, key=None):
    best = max(counter.values())
    return min((v for v, n in counter.items() if n == best), key=key)


def is_loaded() -> bool:
    return Product.objects.filter(seller__username=SELLERS[0][0]).exists()


def wipe() -> None:
    """Remove the catalog, every order and cart, and the demo accounts (not real accounts)."""
    with transaction.atomic():
        Payment.objects.all().delete()
        OrderLine.objects.all().delete()
        Order.objects.all().delete()
        Cart.objects.all().delete()
        ProductImage.objects.all().delete()
        Product.objects.all().delete()
        Category.objects.filter(parent__isnull=False).delete()
        Category.objects.all().delete()
        User.objects.filter(is_demo=True).delete()


def load(
    path: Path | None = None, reload: bool = False, draw_images: bool = True, log=print
) -> LoadReport:
    if is_loaded() and not reload:
        return LoadReport(
            Product.objects.count(),
            Category.objects.count(),
            0,
            0,
            Order.objects.count(),
            0,
            skipped=True,
        )
    path = path or retail_path()
    if not path.exists():
        raise FileNotFoundError(f"demo data not found at {path}; set VIA_DATA to the data folder")
    rows = read_rows(path)
    facts = product_facts(rows)
    if reload:
        wipe()
    with transaction.atomic():
        categories = _create_categories()
        sellers = _create_sellers()
        products = _create_products(facts, categories, sellers)
        customers = _create_customers(rows)
        n_orders, n_lines = _create_orders(rows, products, customers)
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:  # fresh statistics, so the planner uses the indexes
            cursor.execute("ANALYZE")
    if draw_images:
        draw_product_images(Product.objects.select_related("category__parent"))
    log(
        f"demo catalog: {len(products)} products, {len(categories)} categories, "
        f"{len(set(sellers.values()))} sellers, {len(customers)} customer accounts, "
        f"{n_orders} past orders ({n_lines} lines) from {path}"
    )
    return LoadReport(
        len(products),
        len(categories),
        len(set(sellers.values())),
        len(customers),
        n_orders,
        n_lines,
    )


def _create_categories() -> dict[tuple[str, str], Category]:
    result = {}
    for position, (top_name, subs) in enumerate(category_tree().items()):
        top = Category.objects.create(name=top_name, slug=slugify(top_name), position=position)
        for sub_position, sub_name in enumerate(subs):
            sub = Category.objects.create(
                name=sub_name,
                slug=slugify(f"{top_name} {sub_name}"),
                parent=top,
                position=sub_position,
            )
            result[(top_name, sub_name)] = sub
        result[(top_name, "")] = top
    return result


def _demo_user(username: str, email: str, first_name: str = "") -> User:
    user, _ = User.objects.get_or_create(
        username=username, defaults={"email": email, "first_name": first_name, "is_demo": True}
    )
    if user.has_usable_password():
        user.set_unusable_password()
        user.save(update_fields=["password"])
    return user


def _create_sellers() -> dict[str, User]:
    by_category = {}
    for username, shop_name, top_categories in SELLERS:
        seller = _demo_user(username, f"{username}@demo.via.local", shop_name)
        grant_role(seller, Role.SELLER)
        for top in top_categories:
            by_category[top] = seller
    return by_category


def _create_products(facts, categories, sellers) -> dict[str, Product]:
    batch = []
    for code, f in sorted(facts.items()):
        name = most_common(f.names)
        rule = categorize(name)
        seller = sellers[rule.category]
        price = most_common(f.prices)
        batch.append(
            Product(
                code=code,
                name=name.strip(),
                description=(
                    f"{name.strip().capitalize()}. In our {rule.subcategory.lower()} range; "
                    f"stock code {code}. {f.units} sold in December 2010 and January 2011."
                ),
                price=price,
                stock=demo_stock(code),
                status=ProductStatus.APPROVED,
                popularity=f.units,
                created_at=f.first_sold,
                category=categories[(rule.category, rule.subcategory)],
                seller=seller,
            )
        )
    Product.objects.bulk_create(batch, batch_size=500)
    return {p.code: p for p in Product.objects.all()}


def _create_customers(rows) -> dict[str, User]:
    ids = sorted({r["CustomerID"].split(".")[0] for r in rows if r["CustomerID"].strip()})
    existing = set(
        User.objects.filter(username__startswith="customer-").values_list("username", flat=True)
    )
    User.objects.bulk_create(
        [
            User(
                username=f"customer-{cid}",
                email=f"customer-{cid}@demo.via.local",
                is_demo=True,
                password="!",
            )
            for cid in ids
            if f"customer-{cid}" not in existing
        ],
        batch_size=500,
    )
    _demo_user(GUEST_ACCOUNT, "guest-checkouts@demo.via.local", "Guest checkouts")
    users = User.objects.filter(is_demo=True, username__startswith="customer-")
    result = {u.username.removeprefix("customer-"): u for u in users}
    result[""] = User.objects.get(username=GUEST_ACCOUNT)
    return result


def _create_orders(rows, products, customers) -> tuple[int, int]:
    invoices: dict[str, list[dict]] = defaultdict(list)
    for row in rows:
        invoices[row["InvoiceNo"]].append(row)
    orders, lines_by_number = [], {}
    for number, inv_rows in invoices.items():
        cancelled = number.startswith("C")
        lines = []
        for row in inv_rows:
            product = products.get(row["StockCode"].strip())
            quantity = abs(int(row["Quantity"]))
            if product is None or quantity == 0:
                continue
            if Decimal(row["UnitPrice"]) <= 0 or (not cancelled and int(row["Quantity"]) < 0):
                continue  # a stock adjustment or a free line, not a sale
            lines.append((product, quantity, Decimal(row["UnitPrice"])))
        if not lines:
            continue
        first = inv_rows[0]
        customer = customers[first["CustomerID"].split(".")[0].strip()]
        orders.append(
            Order(
                number=f"R{number}",
                user=customer,
                status=OrderStatus.CANCELLED if cancelled else OrderStatus.DELIVERED,
                payment_method=PaymentMethod.CASH_ON_DELIVERY,
                total=sum((p * q for _, q, p in lines), Decimal("0")),
                shipping_country=first["Country"],
                is_demo=True,
                placed_at=parse_time(first["InvoiceDate"]),
            )
        )
        lines_by_number[f"R{number}"] = lines
    Order.objects.bulk_create(orders, batch_size=500)
    ids = dict(Order.objects.filter(is_demo=True).values_list("number", "id"))
    order_lines = [
        OrderLine(
            order_id=ids[number],
            product=product,
            product_name=product.name,
            unit_price=price,
            quantity=quantity,
        )
        for number, lines in lines_by_number.items()
        for product, quantity, price in lines
    ]
    OrderLine.objects.bulk_create(order_lines, batch_size=1000)
    return len(orders), len(order_lines)


def draw_product_images(products) -> int:
    """Draw (or redraw) one SVG per product into MEDIA_ROOT/products/."""
    images, drawn = [], 0
    existing = set(ProductImage.objects.values_list("product_id", flat=True))
    for product in products:
        name = f"products/{slugify(product.code) or product.pk}.svg"
        svg = product_svg(
            product.name,
            product.category.parent.name if product.category.parent_id else product.category.name,
            product.category.name,
            product.code,
        )
        if default_storage.exists(name):
            default_storage.delete(name)
        default_storage.save(name, ContentFile(svg.encode("utf-8")))
        drawn += 1
        if product.pk not in existing:
            images.append(ProductImage(product=product, image=name, alt=product.name))
    ProductImage.objects.bulk_create(images, batch_size=500)
    return drawn


def ensure_images() -> int:
    """Redraw pictures whose files are missing (e.g. var/media was deleted)."""
    missing = [
        img.product
        for img in ProductImage.objects.select_related("product__category__parent")
        if not default_storage.exists(img.image.name)
    ]
    return draw_product_images(missing) if missing else 0
