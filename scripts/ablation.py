"""What each of the export's guarantees costs: the same one-shot export with one of them taken out.

Not a product command and not part of `scripts/bench`: an experiment for BENCHMARKS.md's "Goal 1" section.
`prepare ROOT` saves the digest figures of ROOT's CSVs beside them; then time
`.venv/bin/python scripts/ablation.py VARIANT export --root ROOT --date 2025-10-28 --force` as a whole process,
in turn with the DuckDB COPY of the same CSV (`scripts/bench.py`'s ANCHORS), e.g. with hyperfine.

VARIANT is one of:
- `full`: the export as `parquet-exporter` runs it (spare digest child, quality), through this wrapper;
- `no-digest`: the source's SHA-256 and separator count taken from `prepare`'s file, not read (no NumPy);
- `no-quality`: the duplicate check replaced by 0 (the rest of the quality pass, footer-only, stays);
- `no-digest-no-quality`: both.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

FIGURES = "ablation-figures.json"
VARIANTS = ("full", "no-digest", "no-quality", "no-digest-no-quality")


def prepare(root: Path) -> None:
    from daemon.convert.digest import Digest

    figures = {}
    for path in sorted((root / "g" / "reports").glob("*.csv")):
        digest = Digest.start(path.resolve()).wait()
        figures[str(path.resolve())] = {"sha256": digest.sha256, "separators": digest.separators}
    (root / FIGURES).write_text(json.dumps(figures))
    print(f"{len(figures)} sources: {root / FIGURES}")


def run(variant: str, argv: list[str]) -> int:
    from daemon.convert import digest

    spare = digest.Spare.fork() if "digest" not in variant else None
    if "no-digest" in variant:
        root = Path(argv[argv.index("--root") + 1])
        figures = json.loads((root / FIGURES).read_text())

        def supplied(self: digest.Digest) -> None:
            known = figures[str(self.path.resolve())]
            self.sha256, self.separators = known["sha256"], known["separators"]
            self.version, self.changed = digest.file_version(os.stat(self.path)), False

        digest.Digest._run = supplied  # type: ignore[method-assign]
    if "no-quality" in variant:
        from daemon.convert import quality

        quality._duplicates = lambda *_, **__: 0  # type: ignore[assignment]
    from daemon.cli.commands import main

    code = main(argv, spare=spare)
    if spare is not None:
        spare.close()
    sys.stdout.flush()
    os._exit(code)


if __name__ == "__main__":
    if sys.argv[1:2] == ["prepare"] and len(sys.argv) == 3:
        prepare(Path(sys.argv[2]))
    elif sys.argv[1:2] and sys.argv[1] in VARIANTS:
        run(sys.argv[1], sys.argv[2:])
    else:
        sys.exit(f"usage: ablation.py prepare ROOT | ablation.py {{{','.join(VARIANTS)}}} export ARGS...")
