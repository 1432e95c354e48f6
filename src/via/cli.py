"""The `via` command: `via rec ...` for the recommendation engine."""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["rec"]:
        from via.rec.cli import main as rec_main

        return rec_main(argv[1:])
    print("usage: via rec {evaluate,benchmark,preprocess} ...", file=sys.stderr)
    return 2


if __name__ == "__main__":
    raise SystemExit(main())
