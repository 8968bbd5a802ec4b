"""Write foundation/poms/<bundle>.sha256: the checksum of every jar Maven resolves for each pom.

Run after changing a pom, review the diff (a new jar, a changed checksum), and commit both:
`reelhouse jars` then refuses any jar whose checksum differs.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from foundation import jars


def main() -> int:
    with tempfile.TemporaryDirectory() as scratch:
        for bundle in jars.BUNDLES:
            resolved = jars.resolve(bundle, Path(scratch), verify=False)
            lines = [f"{jars.sha256_of(jar)}  {jar.name}" for jar in resolved]
            jars.checksums_path(bundle).write_text("\n".join(lines) + "\n")
            print(f"{bundle}: {len(lines)} jars pinned in {jars.checksums_path(bundle)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
