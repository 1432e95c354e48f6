"""VIA shop: the Django project (catalog, cart, OTP accounts, checkout and orders)."""
