"""Write the Extensions Index entry from the extension's CMake metadata, as Slicer would.

``SlicerBoneQuality.s4ext`` is Slicer's own template
(``Utilities/Templates/Extensions/extension_description.s4ext.in`` of the newest release
in the manifest) filled the way ``SlicerFunctionGenerateExtensionDescription.cmake`` fills
it, with the defaults of ``SlicerExtensionDescriptionSpec.cmake``. ``SlicerBoneQuality.json``
is the catalog entry that today's Slicer/ExtensionsIndex holds, restricted to the
properties of the entry schema of the oldest supported release (so it is valid for all).
Run ``make extension-description``; ``Testing/test_slicer_extension.py`` checks that the
committed files are what this writes.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
NAME = "SlicerBoneQuality"


def cmake_metadata(text: str) -> dict[str, str]:
    """``EXTENSION_<NAME>`` -> value of each ``set(EXTENSION_<NAME> ...)`` (quotes removed)."""
    out = {}
    for m in re.finditer(r'^set\(EXTENSION_(\w+)\s+("(?:[^"\\]|\\.)*"|[^\s)]+)\)', text, re.M):
        out[m.group(1)] = m.group(2)[1:-1] if m.group(2).startswith('"') else m.group(2)
    return out


def _metadata(manifest: dict, tag: str) -> dict[str, str]:
    spec = manifest["versions"][tag]["extension"]["metadata"]
    given = cmake_metadata((REPO / "CMakeLists.txt").read_text(encoding="utf-8"))
    values = {**{name: entry["default"] for name, entry in spec.items()}, **given}
    values["SCM"] = "git"
    values["SCMURL"] = values["HOMEPAGE"].rstrip("/") + ".git"
    values["SCMREVISION"] = "main"
    values["DESCRIPTION"] = values["DESCRIPTION"].replace("\n", "<br>")
    for name in ("CONTRIBUTORS", "SCREENSHOTURLS", "DEPENDS", "RECOMMENDS", "KEYWORDS"):
        values[name] = re.sub(r"\s+", " ", values.get(name, "")).strip()
    return values


def s4ext(manifest: dict) -> str:
    tag = list(manifest["versions"])[-1]
    values = _metadata(manifest, tag)
    names = {"scm_type": "SCM", "scm_url": "SCMURL", "MY_EXTENSION_WC_REVISION": "SCMREVISION"}

    def fill(m: re.Match) -> str:
        var = m.group(1)
        return values[names.get(var, var.removeprefix("MY_EXTENSION_"))]

    return re.sub(r"\$\{(\w+)\}", fill, manifest["versions"][tag]["extension"]["s4ext_template"])


def catalog_entry(manifest: dict) -> str:
    tag = next(iter(manifest["versions"]))
    values = _metadata(manifest, tag)
    schema = manifest["versions"][tag]["extension"]["catalog_schema"]
    depends = [] if values["DEPENDS"] in ("", "NA") else values["DEPENDS"].split()
    entry = {
        "$schema": schema["id"],
        "build_dependencies": depends,
        "build_subdirectory": values["BUILD_SUBDIRECTORY"],
        "category": values["CATEGORY"],
        "enabled": values["ENABLED"] == "1",
        "scm_revision": values["SCMREVISION"],
        "scm_url": values["SCMURL"],
        "tier": int(values["TIER"]),
    }
    assert set(entry) <= set(schema["properties"])
    assert set(schema["required"]) <= set(entry)
    return json.dumps(entry, indent=2, sort_keys=True) + "\n"


def main() -> int:
    sys.path.insert(0, str(HERE.parent))  # a script run from the checkout
    from slicer_api.check import load_manifest

    manifest = load_manifest()
    (REPO / f"{NAME}.s4ext").write_text(s4ext(manifest), encoding="utf-8")
    (REPO / f"{NAME}.json").write_text(catalog_entry(manifest), encoding="utf-8")
    print(f"wrote {NAME}.s4ext and {NAME}.json")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
