"""The browser players the console loads, vendored from npm: which versions, and the refresh.

``make vendor-js`` runs ``python -m api.console.vendor``: npm installs the pinned versions in
a temporary folder and each bundle, with its licence, is copied into ``static/vendor/``,
which is committed. So the console has no JS build step and needs no npm to run, and the
playback tests load the very files the console serves.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import NamedTuple


class Bundle(NamedTuple):
    version: str
    #: The UMD bundle in the package (it defines a global: ``Hls``, ``dashjs``, ``mpegts``).
    file: str


#: npm package → what is vendored. The DASH-IF player is ``dashjs`` on npm (``dash.js``
#: there is unrelated); ``mpegts.js`` plays FLV, which no browser plays natively.
PACKAGES = {
    "hls.js": Bundle("1.7.4", "dist/hls.min.js"),
    "dashjs": Bundle("4.7.4", "dist/dash.all.min.js"),
    "mpegts.js": Bundle("1.8.2", "dist/mpegts.js"),
}
VENDOR_DIR = Path(__file__).with_name("static") / "vendor"


def bundle_path(package: str) -> Path:
    """Where the vendored bundle of ``package`` is."""
    return VENDOR_DIR / Path(PACKAGES[package].file).name


def vendor(npm: str = "npm") -> None:
    """Install the pinned packages with npm and copy their bundles and licences here."""
    with tempfile.TemporaryDirectory(prefix="mcfarm-vendor-") as tmp:
        specs = [f"{name}@{bundle.version}" for name, bundle in PACKAGES.items()]
        argv = [npm, "install", "--no-audit", "--no-fund", "--save-exact", "--prefix", tmp]
        subprocess.run([*argv, *specs], check=True, stdin=subprocess.DEVNULL, timeout=600)
        VENDOR_DIR.mkdir(parents=True, exist_ok=True)
        for name, bundle in PACKAGES.items():
            package = Path(tmp) / "node_modules" / name
            shutil.copyfile(package / bundle.file, bundle_path(name))
            licence = next(package.glob("LICENSE*"))  # LICENSE or LICENSE.md
            shutil.copyfile(licence, VENDOR_DIR / f"{name}.LICENSE")
        lines = [f"{name} {bundle.version} {bundle.file}" for name, bundle in PACKAGES.items()]
        (VENDOR_DIR / "VERSIONS").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    vendor(*sys.argv[1:2])
