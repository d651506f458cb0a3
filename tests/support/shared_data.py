"""Where the shared evaluation data and failing cases live: ../shared beside the repository.

`KB_SHARED_DIR` points elsewhere (a git worktree sits deeper than the clone CI makes).
"""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
SHARED_DIR = Path(os.environ.get("KB_SHARED_DIR") or REPO_ROOT.parent / "shared")
CASES_DIR = SHARED_DIR / "cases"
XQUAD_DIR = SHARED_DIR / "eval" / "xquad"
