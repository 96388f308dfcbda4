"""Whether a person is at the controls.

Used by :mod:`condcomp_lib.viz` (widgets or static figures), the training loops and the
measurements (progress bars or silence). The book's build and the tests set
``CONDCOMP_HEADLESS=1``; so does anyone running a chapter with papermill.
"""

from __future__ import annotations

import os


def headless() -> bool:
    """True when the chapter runs without a person at the controls: widgets are then
    replaced by static figures, and progress bars stay silent."""
    return os.environ.get("CONDCOMP_HEADLESS", "") not in ("", "0")
