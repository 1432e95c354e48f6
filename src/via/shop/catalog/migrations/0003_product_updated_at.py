"""Product.updated_at, the stamp of the page caches.

On SQLite, Django adds the column by rebuilding catalog_product, which drops the search triggers
of 0002: they are installed again here (any later migration that rebuilds the table must do the
same, with reinstall_search_triggers)."""

import importlib

from django.db import migrations, models

search_index = importlib.import_module("via.shop.catalog.migrations.0002_product_search_index")


class Migration(migrations.Migration):
    dependencies = [("catalog", "0002_product_search_index")]

    operations = [
        migrations.AddField(
            model_name="product",
            name="updated_at",
            field=models.DateTimeField(auto_now=True, db_index=True),
        ),
        migrations.RunPython(search_index.reinstall_search_triggers, migrations.RunPython.noop),
    ]
