"""Django settings for the VIA shop.

Everything comes from the environment with safe local defaults: SQLite under var/, an in-process
cache, the outbox message sender. `DATABASE_URL` (PostgreSQL) and `REDIS_URL` switch the same code
to shared services.
"""

import os
from pathlib import Path

import dj_database_url

SHOP_DIR = Path(__file__).resolve().parent
PROJECT_DIR = SHOP_DIR.parents[2]
VAR_DIR = Path(os.environ.get("VIA_VAR_DIR", PROJECT_DIR / "var"))
VAR_DIR.mkdir(parents=True, exist_ok=True)
DATA_DIR = Path(os.environ.get("VIA_DATA", PROJECT_DIR.parent / "shared" / "data"))


def env_flag(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


DEBUG = env_flag("VIA_DEBUG", True)
# Local development only; any real deployment sets VIA_SECRET_KEY.
SECRET_KEY = os.environ.get("VIA_SECRET_KEY", "via-local-development-key-not-for-production")
ALLOWED_HOSTS = [
    h for h in os.environ.get("VIA_ALLOWED_HOSTS", "127.0.0.1,localhost").split(",") if h
]

INSTALLED_APPS = [
    # First, so that its runserver (TCP_NODELAY) wins over staticfiles' own.
    "via.shop.devserver",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django.contrib.postgres",
    "via.shop.accounts",
    "via.shop.catalog",
    "via.shop.cart",
    "via.shop.orders",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "via.shop.urls"
ASGI_APPLICATION = "via.shop.asgi.application"
WSGI_APPLICATION = "via.shop.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [SHOP_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "via.shop.catalog.context_processors.navigation",
                "via.shop.cart.context_processors.cart_summary",
            ],
        },
    },
]

DATABASES = {
    "default": dj_database_url.config(
        default=f"sqlite:///{VAR_DIR / 'via-shop.sqlite3'}", conn_max_age=60
    )
}
if os.environ.get("VIA_TEST_DB_NAME"):
    # Lets parallel test runs on one PostgreSQL server use databases of their own.
    DATABASES["default"]["TEST"] = {"NAME": os.environ["VIA_TEST_DB_NAME"]}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets readers work while one writer commits; IMMEDIATE makes every transaction take
    # the write lock at its start, so two checkouts queue instead of failing half-way.
    DATABASES["default"]["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
    # Keep each server thread's connection: opening one (with the PRAGMAs) cost about 2 ms of
    # the 4 ms of a cached page (docs/shop-benchmarks.md).
    DATABASES["default"]["CONN_MAX_AGE"] = 60

REDIS_URL = os.environ.get("REDIS_URL")
if REDIS_URL:
    CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

AUTH_USER_MODEL = "accounts.User"
LOGIN_URL = "accounts:sign_in"
LOGIN_REDIRECT_URL = "catalog:home"
AUTHENTICATION_BACKENDS = ["django.contrib.auth.backends.ModelBackend"]

# With a shared cache (Redis), sessions are read from it and written through to the database;
# a per-process memory cache could serve one worker a stale session, so then the database only.
SESSION_ENGINE = (
    "django.contrib.sessions.backends.cached_db"
    if REDIS_URL
    else "django.contrib.sessions.backends.db"
)
MESSAGE_STORAGE = "django.contrib.messages.storage.session.SessionStorage"

LANGUAGE_CODE = "en"
LANGUAGES = [("en", "English"), ("fr", "Français"), ("ar", "العربية")]
LOCALE_PATHS = [SHOP_DIR / "locale"]
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = VAR_DIR / "static"
MEDIA_URL = "/media/"
MEDIA_ROOT = Path(os.environ.get("VIA_MEDIA_ROOT", VAR_DIR / "media"))
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = DEBUG

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# The shop's own knobs.
VIA_MESSAGE_SENDER = os.environ.get("VIA_MESSAGE_SENDER", "via.shop.accounts.senders.OutboxSender")
VIA_CARD_PROVIDER = os.environ.get(
    "VIA_CARD_PROVIDER", "via.shop.orders.payments.OfflineCardProvider"
)
VIA_OTP_TTL_SECONDS = 300
VIA_OTP_MAX_ATTEMPTS = 5
VIA_OTP_RESEND_SECONDS = int(os.environ.get("VIA_OTP_RESEND_SECONDS", "60"))
VIA_PAGE_SIZE = 24
VIA_MAX_LINE_QUANTITY = 99

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "loggers": {"via": {"handlers": ["console"], "level": os.environ.get("VIA_LOG_LEVEL", "INFO")}},
}
STATICFILES_DIRS = [SHOP_DIR / "static"]
