"""`python -m daemon` is the same as `parquet-exporter`."""

import sys

from daemon.cli import main

sys.exit(main())
