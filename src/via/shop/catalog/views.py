"""Browsing: home, category pages, search with filters and sorting, product page."""

from django.conf import settings
from django.contrib import messages
from django.core.paginator import Paginator
from django.shortcuts import get_object_or_404, render
from django.utils.functional import SimpleLazyObject

from .caching import TIMEOUT_SECONDS, catalog_stamp
from .forms import SORTS, ProductFilterForm
from .models import Category, Product
from .pagecache import shared_page_cache
from .search import ranked_search, search, search_terms


@shared_page_cache
def home(request):
    visible = Product.objects.visible().prefetch_related("images")
    context = {
        "stamp": catalog_stamp(),
        "cache_seconds": TIMEOUT_SECONDS,
        "popular": visible.filter(stock__gt=0).order_by("-popularity", "pk")[:8],
        "newest": visible.filter(stock__gt=0).order_by("-created_at", "pk")[:8],
        "categories": Category.objects.filter(parent__isnull=True).prefetch_related("children"),
    }
    return render(request, "catalog/home.html", context)


def _filtered(request, category: Category | None):
    """Apply the filter form to the approved products; invalid fields become messages."""
    form = ProductFilterForm(request.GET or None)
    products = Product.objects.visible()
    data = {}
    if form.is_bound:
        if form.is_valid():
            data = form.cleaned_data
        else:
            for field, errors in form.errors.items():
                for error in errors:
                    messages.error(request, error)
            # Keep the fields that were fine, drop the bad ones.
            data = {
                k: v for k, v in getattr(form, "cleaned_data", {}).items() if k not in form.errors
            }
            if "__all__" in form.errors:  # min above max: ignore the price range
                data.pop("min_price", None)
                data.pop("max_price", None)
    slug = data.get("category")
    if category is None and slug:
        category = Category.objects.filter(slug=slug).first()
        if category is None:
            messages.error(request, "Unknown category; showing all categories.")
    if category is not None:
        if category.parent_id is None:
            products = products.filter(category__parent=category)
        else:
            products = products.filter(category=category)
    query = (data.get("q") or "").strip()
    if query and not search_terms(query):
        messages.error(request, "Search with at least one letter or digit.")
    if data.get("min_price") is not None:
        products = products.filter(price__gte=data["min_price"])
    if data.get("max_price") is not None:
        products = products.filter(price__lte=data["max_price"])
    if data.get("in_stock"):
        products = products.filter(stock__gt=0)
    sort = data.get("sort") or ("relevance" if query else "popular")
    if sort == "relevance" and not query:
        sort = "popular"
    products = products.select_related("category").prefetch_related("images")

    def results():
        if sort == "relevance":
            return ranked_search(products, query)
        matching = search(products, query) if query else products
        return matching.order_by(*SORTS[sort][1])

    page_number = data.get("page") or 1
    return {
        "form": form,
        # Lazy: when the results fragment is cached, no catalog query runs at all.
        "page": SimpleLazyObject(
            lambda: Paginator(results(), settings.VIA_PAGE_SIZE).get_page(page_number)
        ),
        "stamp": catalog_stamp(),
        "cache_seconds": TIMEOUT_SECONDS,
        # The pager's links repeat the query string, so it is part of the key.
        "results_key": f"{category.pk if category else ''}|{request.get_full_path()}",
        "category": category,
        "query": query,
        "sort": sort,
        "sorts": [(key, label) for key, (label, _) in SORTS.items() if key != "relevance" or query],
    }


@shared_page_cache
def product_list(request):
    return render(request, "catalog/list.html", _filtered(request, None))


@shared_page_cache
def category(request, slug: str):
    cat = get_object_or_404(Category.objects.select_related("parent"), slug=slug)
    context = _filtered(request, cat)
    context["subcategories"] = (
        cat.children.all() if cat.parent_id is None else cat.parent.children.all()
    )
    return render(request, "catalog/list.html", context)


@shared_page_cache
def product(request, pk: int):
    item = get_object_or_404(
        Product.objects.visible().select_related("category__parent", "seller"), pk=pk
    )
    related = (
        Product.objects.visible()
        .filter(category=item.category, stock__gt=0)
        .exclude(pk=item.pk)
        .order_by("-popularity", "pk")
        .prefetch_related("images")[:4]
    )
    return render(
        request,
        "catalog/product.html",
        {
            "product": item,
            "related": related,
            "stamp": catalog_stamp(),
            "cache_seconds": TIMEOUT_SECONDS,
        },
    )
