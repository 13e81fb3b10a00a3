"""``python -m tests.eval`` (see tests/eval/cli.py)."""

from __future__ import annotations

import sys

from tests.eval.cli import main

sys.exit(main())
