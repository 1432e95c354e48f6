"""The text index behind keyword search: FTS5 on SQLite, a GIN index on PostgreSQL."""

from django.db import migrations

SQLITE_CREATE = [
    """CREATE VIRTUAL TABLE catalog_product_fts USING fts5(
        name, description, content='catalog_product', content_rowid='id',
        tokenize='porter unicode61')""",
    """CREATE TRIGGER catalog_product_fts_ai AFTER INSERT ON catalog_product BEGIN
        INSERT INTO catalog_product_fts(rowid, name, description)
        VALUES (new.id, new.name, new.description); END""",
    """CREATE TRIGGER catalog_product_fts_ad AFTER DELETE ON catalog_product BEGIN
        INSERT INTO catalog_product_fts(catalog_product_fts, rowid, name, description)
        VALUES ('delete', old.id, old.name, old.description); END""",
    # Only a change of the indexed text touches the index: stock updates at checkout do not.
    """CREATE TRIGGER catalog_product_fts_au AFTER UPDATE OF name, description ON catalog_product
        BEGIN
        INSERT INTO catalog_product_fts(catalog_product_fts, rowid, name, description)
        VALUES ('delete', old.id, old.name, old.description);
        INSERT INTO catalog_product_fts(rowid, name, description)
        VALUES (new.id, new.name, new.description); END""",
    "INSERT INTO catalog_product_fts(catalog_product_fts) VALUES ('rebuild')",
]
SQLITE_DROP = [
    "DROP TRIGGER IF EXISTS catalog_product_fts_au",
    "DROP TRIGGER IF EXISTS catalog_product_fts_ad",
    "DROP TRIGGER IF EXISTS catalog_product_fts_ai",
    "DROP TABLE IF EXISTS catalog_product_fts",
]
# The expression is the one SearchVector("name", weight="A") + SearchVector("description",
# weight="B") compiles to (catalog/search.py), so that the planner can use the index.
POSTGRES_CREATE = [
    """CREATE INDEX catalog_product_search_gin ON catalog_product USING gin ((
        setweight(to_tsvector('english'::regconfig,
                              COALESCE(name, ''::character varying)::text), 'A'::"char") ||
        setweight(to_tsvector('english'::regconfig, COALESCE(description, ''::text)), 'B'::"char")
        ))""",
]
POSTGRES_DROP = ["DROP INDEX IF EXISTS catalog_product_search_gin"]


def reinstall_search_triggers(apps, schema_editor):
    """Drop and create the SQLite triggers again and rebuild the index from catalog_product."""
    if schema_editor.connection.vendor != "sqlite":
        return
    for sql in SQLITE_DROP[:3] + SQLITE_CREATE[1:]:
        schema_editor.execute(sql)


def _run(statements_by_vendor):
    def run(apps, schema_editor):
        for sql in statements_by_vendor.get(schema_editor.connection.vendor, []):
            schema_editor.execute(sql)

    return run


class Migration(migrations.Migration):
    dependencies = [("catalog", "0001_initial")]

    operations = [
        migrations.RunPython(
            _run({"sqlite": SQLITE_CREATE, "postgresql": POSTGRES_CREATE}),
            _run({"sqlite": SQLITE_DROP, "postgresql": POSTGRES_DROP}),
        )
    ]
