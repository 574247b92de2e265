"""Render the launchd job template with real paths (used by scripts/install-launchd and the tests)."""

from __future__ import annotations

import argparse
import plistlib
import sys
from pathlib import Path
from xml.sax.saxutils import escape

PROJECT_DIR = Path(__file__).resolve().parents[2]
TEMPLATE = PROJECT_DIR / "launchd" / "com.02luka.parquet_export.plist"
LABEL = "com.02luka.parquet_export"


def render_plist(
    root: Path, *, project_dir: Path = PROJECT_DIR, config: Path | None = None, template: Path = TEMPLATE
) -> str:
    """The template with @ROOT@, @PROJECT_DIR@ and @CONFIG@ replaced; checked to parse as a plist."""
    text = template.read_text(encoding="utf-8")
    values = {
        "@ROOT@": str(root.expanduser().resolve()),
        "@PROJECT_DIR@": str(project_dir.resolve()),
        "@CONFIG@": str(config.expanduser().resolve()) if config else "",
    }
    for placeholder, value in values.items():
        text = text.replace(placeholder, escape(value))
    document = plistlib.loads(text.encode("utf-8"))
    if not config:
        document["EnvironmentVariables"].pop("PARQUET_EXPORTER_CONFIG", None)
        text = plistlib.dumps(document).decode("utf-8")
    return text


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Render the launchd plist for a root.")
    parser.add_argument("--root", type=Path, required=True)
    parser.add_argument("--config", type=Path, default=None)
    args = parser.parse_args(argv)
    sys.stdout.write(render_plist(args.root, config=args.config))
    return 0


if __name__ == "__main__":
    sys.exit(main())
