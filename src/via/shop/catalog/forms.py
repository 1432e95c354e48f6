"""The browsing form: keyword, category, price range, in-stock, sort. Every field is checked, and
a bad value comes back as a message on the page, never an error page."""

from decimal import Decimal

from django import forms
from django.core.exceptions import ValidationError

from .search import MAX_QUERY_LENGTH

SORTS = {
    "relevance": ("Relevance", None),
    "price": ("Price: low to high", ("price", "pk")),
    "-price": ("Price: high to low", ("-price", "pk")),
    "newest": ("Newest", ("-created_at", "pk")),
    "popular": ("Most popular", ("-popularity", "pk")),
    "name": ("Name", ("name", "pk")),
}
MAX_PRICE = Decimal("100000")


def price_field(label: str, what: str, example: str) -> forms.DecimalField:
    return forms.DecimalField(
        label=label,
        required=False,
        min_value=0,
        max_value=MAX_PRICE,
        decimal_places=2,
        max_digits=8,
        error_messages={
            "invalid": f"{what} must be a number, like {example}.",
            "min_value": f"{what} cannot be negative.",
            "max_value": f"{what} is at most 100,000.",
            "max_decimal_places": "Prices have at most 2 decimals.",
            "max_digits": "That price is too long.",
        },
    )


class ProductFilterForm(forms.Form):
    q = forms.CharField(
        label="Search",
        required=False,
        max_length=MAX_QUERY_LENGTH,
        error_messages={"max_length": f"Search with at most {MAX_QUERY_LENGTH} characters."},
    )
    category = forms.SlugField(required=False, max_length=120)
    min_price = price_field("Min £", "Minimum price", "2.50")
    max_price = price_field("Max £", "Maximum price", "10")
    in_stock = forms.BooleanField(label="In stock only", required=False)
    sort = forms.ChoiceField(
        required=False,
        choices=[(key, label) for key, (label, _) in SORTS.items()],
        error_messages={"invalid_choice": "Unknown sort order; showing the default."},
    )
    page = forms.IntegerField(
        required=False,
        min_value=1,
        max_value=10_000,
        error_messages={
            "invalid": "Page must be a whole number.",
            "min_value": "Pages start at 1.",
            "max_value": "That page is too far.",
        },
    )

    def clean(self):
        data = super().clean()
        low, high = data.get("min_price"), data.get("max_price")
        if low is not None and high is not None and low > high:
            raise ValidationError("The minimum price is above the maximum price.")
        return data
