"""Every Slicer API the modules and ``bonequality.mrml`` use exists in every supported Slicer release.

``Testing/slicer_api/manifest.json`` was read from Slicer's own sources at the release
tags (and the CTK commit and Qt 5.15 headers they build with) by
``Testing/slicer_api/extract.py``; :mod:`slicer_api.usage` walks the module files, the
``.ui`` files and ``bonequality.mrml``; :mod:`slicer_api.check` applies PythonQt's and VTK's
rules. The seeded mistakes show that the check fails where Slicer would.
"""

from __future__ import annotations

import re

import pytest
from slicer_api import check, usage

MANIFEST = check.load_manifest()
TAGS = tuple(MANIFEST["versions"])
#: The oldest supported Slicer and the newest release when the manifest was made.
SUPPORTED = ("v5.8.1", "v5.12.3")


def _problems(tag: str, overrides: dict[str, str] | None = None) -> list[str]:
    return check.problems(MANIFEST, tag, usage.collect(check.ManifestApi(MANIFEST, tag), overrides))


def _seeded(rel: str, old: str, new: str) -> dict[str, str]:
    text = (usage.REPO / rel).read_text(encoding="utf-8")
    assert old in text, f"{rel} no longer contains {old!r}: update the seeded mistake"
    return {rel: text.replace(old, new, 1)}


def test_the_manifest_covers_the_oldest_and_newest_supported_slicer():
    assert set(SUPPORTED) <= set(TAGS)
    for tag in TAGS:
        version = MANIFEST["versions"][tag]
        assert re.fullmatch(r"[0-9a-f]{40}", version["slicer_commit"]), tag
        assert re.fullmatch(r"[0-9a-f]{40}", version["ctk_commit"]), tag
        assert {"numpy", "scipy", "simpleitk", "vtk"} <= set(version["bundled"]), tag
    assert MANIFEST["versions"]["v5.8.1"]["bundled"]["python"].startswith("3.9")
    assert MANIFEST["qt"]["version"].startswith("5.15")


@pytest.mark.parametrize("tag", TAGS)
def test_the_project_uses_only_api_that_slicer_has(tag):
    problems = _problems(tag)
    assert not problems, f"Slicer {tag}:\n" + "\n".join(problems)


def test_the_walk_reaches_every_kind_of_use():
    """Guards the checker itself: the uses that matter are found, not silently skipped."""
    uses = usage.collect(check.ManifestApi(MANIFEST, TAGS[0]))
    targets = {(u.kind, u.target[:3]) for u in uses}
    for expected in (
        ("cxx_signal", ("QPushButton", "clicked(bool)")),
        ("cxx_signal", ("QTimer", "timeout()")),
        ("cxx_signal", ("qSlicerApplication", "startupCompleted()")),
        ("cxx_slot", ("qMRMLNodeComboBox", "setMRMLScene(vtkMRMLScene*)")),
        ("cxx_member", ("qSlicerMarkupsPlaceWidget", "placeMultipleMarkups", "set")),
        ("cxx_member", ("qSlicerMarkupsPlaceWidget", "ForcePlaceMultipleMarkups", "get")),
        ("cxx_member", ("qSlicerScriptedLoadableModule", "hidden", "set")),
        ("cxx_member", ("qMRMLSliceWidget", "mrmlSliceNode", "call")),
        ("cxx_member", ("vtkMRMLScene", "StartCloseEvent", "get")),
        ("ui_connector", ("QComboBox",)),
        ("py_name", ("slicer.util", "VTKObservationMixin")),
    ):
        assert expected in targets, expected
    kinds = {u.kind for u in uses}
    assert {"py_call", "py_member", "vtk_method", "cxx_class", "pnw_member"} <= kinds
    plugin = [u for u in uses if u.kind == "py_member" and u.target[1] == "createMeasurementInfo"]
    assert plugin, "the Segment Statistics plugin's createMeasurementInfo call is not checked"


#: (file, text, seeded mistake, what the check must say), at every version.
SEEDED = [
    (
        "CementVolume/CementVolumeLib/SegmentStatisticsPlugin.py",
        "name=name, title=name,",
        "name=name,",
        "createMeasurementInfo(): missing required argument(s) ['title']",
    ),
    (
        "SacralBoneAnalysis/SacralBoneAnalysis.py",
        'connect("clicked(bool)", self.onSetupLandmarks)',
        'connect("clicked(int)", self.onSetupLandmarks)',
        "QPushButton has no signal clicked(int)",
    ),
    (
        "SacralBoneAnalysis/SacralBoneAnalysis.py",
        "ForcePlaceMultipleMarkups",
        "ForcePlaceManyMarkups",
        "qSlicerMarkupsPlaceWidget has no member ForcePlaceManyMarkups",
    ),
    (
        "SacralBoneAnalysis/SacralBoneAnalysis.py",
        "self.parent.title = ",
        "self.parent.name = ",
        "qSlicerScriptedLoadableModule.name is a read-only property",
    ),
    (
        "SacralBoneAnalysis/SacralBoneAnalysis.py",
        '.sliceWidget("Red").mrmlSliceNode()',
        '.sliceWidget("Red").sliceNode()',
        "qMRMLSliceWidget has no slot or Q_INVOKABLE method sliceNode",
    ),
    (
        "FocalDefect/FocalDefect.py",
        'tryWithErrorDisplay(_("Focal Defect failed."), waitCursor=True)',
        'tryWithErrorDisplay(_("Focal Defect failed."), wait_cursor=True)',
        "tryWithErrorDisplay(): unexpected keyword argument(s) ['wait_cursor']",
    ),
    (
        "CementVolume/Resources/UI/CementVolume.ui",
        '<property name="noneEnabled">',
        '<property name="noneEnable">',
        "qMRMLNodeComboBox has no writable property noneEnable",
    ),
    (
        "FocalDefect/Resources/UI/FocalDefect.ui",
        "<slot>setMRMLScene(vtkMRMLScene*)</slot>",
        "<slot>setScene(vtkMRMLScene*)</slot>",
        "has no slot setScene(vtkMRMLScene*)",
    ),
    (
        "src/bonequality/mrml/segmentations.py",
        '"vtkMRMLSegmentationNode"',
        '"vtkMRMLSegmentationsNode"',
        "vtkMRMLSegmentationsNode",
    ),
]


@pytest.mark.parametrize("tag", TAGS)
@pytest.mark.parametrize(("rel", "old", "new", "expected"), SEEDED, ids=lambda v: str(v)[:30])
def test_a_seeded_mistake_fails(tag, rel, old, new, expected):
    problems = _problems(tag, _seeded(rel, old, new))
    assert any(expected in p for p in problems), f"{expected!r} not among {problems}"


def test_a_keyword_that_only_newer_slicer_accepts_fails_at_the_oldest():
    """``pip_install(requirements)`` in 5.8; 5.10+ add ``**kwargs`` (``requester=``, ``constraints=``)."""
    seeded = _seeded(
        "src/bonequality/mrml/requirements.py",
        "slicer.util.pip_install(args)",
        'slicer.util.pip_install(args, requester="Bone quality")',
    )
    assert any(
        "pip_install(): unexpected keyword argument(s) ['requester']" in p
        for p in _problems("v5.8.1", seeded)
    )
    assert not _problems("v5.12.3", seeded)


@pytest.mark.mrml
def test_mrml_classes_and_methods_exist_in_slicer_core():
    """The same names, checked live against the installed slicer-core (Slicer's MRML built for PyPI)."""
    slicer = pytest.importorskip("slicer", reason="Slicer's MRML (slicer-core) is not installed")
    vtk = pytest.importorskip("vtk")
    uses = usage.collect(check.ManifestApi(MANIFEST, TAGS[-1]))
    classes = {u.target[0] for u in uses if u.kind == "cxx_class" and u.target[0].startswith("vtk")}
    missing = sorted(c for c in classes if not hasattr(slicer, c))
    assert not missing, f"slicer-core lacks {missing}"
    members = set()
    for module in (slicer, vtk):
        for name in dir(module):
            if name.startswith("vtk") and isinstance(getattr(module, name), type):
                members |= set(dir(getattr(module, name)))
    methods = {u.target[0] for u in uses if u.kind == "vtk_method"}
    assert not sorted(methods - members), f"neither slicer-core nor vtk has {sorted(methods - members)}"
