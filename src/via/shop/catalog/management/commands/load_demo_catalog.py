"""`python -m via.shop load_demo_catalog [--reload]`: the real retailer as the demo shop."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from via.shop.catalog import demo


class Command(BaseCommand):
    help = "Load the demo catalog from shared/data/retail (idempotent; --reload starts afresh)."

    def add_arguments(self, parser):
        parser.add_argument(
            "--reload",
            action="store_true",
            help="wipe catalog, orders, carts and demo accounts, then load again",
        )
        parser.add_argument("--path", type=Path, default=None, help="the retail CSV.gz file")

    def handle(self, *args, reload=False, path=None, **options):
        try:
            report = demo.load(path=path, reload=reload, log=self.stdout.write)
        except FileNotFoundError as exc:
            raise CommandError(str(exc)) from exc
        if report.skipped:
            redrawn = demo.ensure_images()
            self.stdout.write(
                f"demo catalog already loaded ({report.products} products, {report.orders} "
                f"orders); {redrawn} missing pictures redrawn. Use --reload to start afresh."
            )
