"""`python -m via.shop <command>`: Django's manage.py for the shop."""

import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "via.shop.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line([sys.argv[0].replace("__main__.py", "via.shop"), *sys.argv[1:]])


if __name__ == "__main__":
    main()
