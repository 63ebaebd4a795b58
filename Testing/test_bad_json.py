"""Structurally random JSON and .seg.nrrd headers: every reader refuses with one typed line.

The readers of ``.mrk.json`` landmarks (:func:`read_mrk_json`, :func:`read_mrk_json_markups`),
screws (:func:`read_screws`), phantom inserts (:func:`read_phantom_inserts`) and the segment
fields of a ``.seg.nrrd`` header (:func:`segment_metadata`, :func:`read_segmentation`) get
random documents (None, booleans, integers, floats with NaN and infinities, text, lists,
objects, nested) and mutations of valid ones. Each either reads the document or raises a
:class:`~bonequality.errors.BoneQualityError` whose message is one line naming the file.
"""

from __future__ import annotations

import copy
import json

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bonequality.cement import read_screws
from bonequality.errors import BoneQualityError, InputFileError, MaskError
from bonequality.focal_defect import read_phantom_inserts
from bonequality.landmarks import Landmarks, read_mrk_json, read_mrk_json_markups, write_mrk_json
from bonequality.segmentation import read_mask, read_segmentation, segment_metadata, write_segmentation
from bonequality.volume import Volume

#: Field names the readers look for, so random objects reach the deeper fields too.
KEYS = (
    "markups",
    "controlPoints",
    "position",
    "label",
    "positionStatus",
    "coordinateSystem",
    "coordinateUnits",
    "type",
    "name",
    "screwDiameterMm",
    "inserts",
    "density_mg_cm3",
    "hu",
    "center_lps",
    "radius_mm",
)

SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**30), max_value=10**30)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=6)
    | st.sampled_from(["LPS", "RAS", "defined", "undefined", "Line", "mm", "7", "nan"])
)
JSON = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=4), inner, max_size=4)
    ),
    max_leaves=25,
)
SETTINGS = settings(
    max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


def _volume() -> Volume:
    """A small CT-like image spanning LPS -10 ... 10 mm (air and bone)."""
    arr = np.full((20, 20, 20), -1000, np.int16)
    arr[5:15, 5:15, 5:15] = 400
    return Volume.from_array(arr, origin=(-9.5, -9.5, -9.5))


VOLUME = _volume()

VALID_MARKUPS = {
    "markups": [
        {
            "type": "Fiducial",
            "coordinateSystem": "RAS",
            "coordinateUnits": "mm",
            "controlPoints": [
                {"label": "S1_body_top", "position": [1.0, 2.0, 3.0], "positionStatus": "defined"},
                {"label": "L5_body_center", "position": [0.0, 0.0, 0.0], "positionStatus": "undefined"},
            ],
        },
        {
            "type": "Line",
            "name": "screw A",
            "screwDiameterMm": 7.3,
            "controlPoints": [
                {"label": "entry", "position": [-5.0, 0.0, 0.0]},
                {"label": "tip", "position": [5.0, 0.0, 0.0]},
            ],
        },
    ]
}
VALID_INSERTS = {
    "inserts": [
        {"density_mg_cm3": 0.0, "hu": 0.0},
        {"density_mg_cm3": 100.0, "center_lps": [0.0, 0.0, 0.0], "radius_mm": 3.0},
        {"density_mg_cm3": 200.0, "hu": 800.0, "center_lps": [1.0, 1.0, 1.0], "radius_mm": 2.0},
    ]
}


def _paths(doc, prefix=()):
    """Every (container, key) path into a JSON document."""
    out = []
    if isinstance(doc, dict):
        for k, v in doc.items():
            out.append((*prefix, k))
            out += _paths(v, (*prefix, k))
    elif isinstance(doc, list):
        for i, v in enumerate(doc):
            out.append((*prefix, i))
            out += _paths(v, (*prefix, i))
    return out


@st.composite
def mutated(draw, valid):
    """``valid`` with a few fields replaced by random JSON or deleted."""
    doc = copy.deepcopy(valid)
    for _ in range(draw(st.integers(1, 3))):
        paths = _paths(doc)
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        parent = doc
        for key in path[:-1]:
            parent = parent[key]
        if draw(st.booleans()) and isinstance(parent, dict):
            del parent[path[-1]]
        else:
            parent[path[-1]] = draw(JSON)
    return doc


def _refuses_cleanly(read, path, doc) -> None:
    """``read(path)`` of ``doc`` returns, or raises one typed line naming the file."""
    path.write_text(json.dumps(doc))
    try:
        read(path)
    except BoneQualityError as exc:
        message = str(exc)
    else:
        return
    assert "\n" not in message, message
    assert "\r" not in message, message
    assert path.name in message, message


READERS = {
    "read_mrk_json": read_mrk_json,
    "read_mrk_json_markups": read_mrk_json_markups,
    "read_screws": read_screws,
    "read_phantom_inserts": lambda p: read_phantom_inserts(p, volume=VOLUME),
}


@pytest.mark.parametrize("reader", sorted(READERS))
@SETTINGS
@given(doc=JSON)
def test_random_json_is_refused_with_one_typed_line(tmp_path, reader, doc):
    _refuses_cleanly(READERS[reader], tmp_path / "input.mrk.json", doc)


@pytest.mark.parametrize("reader", sorted(READERS))
@SETTINGS
@given(data=st.data())
def test_mutated_valid_documents_are_read_or_refused_with_one_typed_line(tmp_path, reader, data):
    valid = VALID_INSERTS if reader == "read_phantom_inserts" else VALID_MARKUPS
    _refuses_cleanly(READERS[reader], tmp_path / "input.json", data.draw(mutated(valid)))


def test_the_valid_documents_are_read(tmp_path):
    """The starting points of the mutations are valid (so mutations test the checks, not typos)."""
    path = tmp_path / "doc.mrk.json"
    path.write_text(json.dumps(VALID_MARKUPS))
    lm = read_mrk_json(path)
    np.testing.assert_allclose(lm["S1_body_top"], [-1.0, -2.0, 3.0])  # RAS -> LPS
    path.write_text(json.dumps({"markups": VALID_MARKUPS["markups"][1:]}))
    (screw,) = read_screws(path)
    assert (screw.name, screw.diameter_mm) == ("screw A", 7.3)
    np.testing.assert_allclose(screw.tip, [5.0, 0.0, 0.0])
    path.write_text(json.dumps(VALID_INSERTS))
    assert read_phantom_inserts(path, volume=VOLUME).calibrated


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ({"markups": None}, "markups must be a list"),
        ({"markups": {}}, "markups must be a list"),
        ({"markups": "x"}, "markups must be a list"),
        ({"markups": [{"controlPoints": None}]}, r"markups\[0\]\.controlPoints must be a list"),
        ({"markups": [{"controlPoints": "abc"}]}, r"markups\[0\]\.controlPoints must be a list"),
        (
            {"markups": [{"controlPoints": [{"label": "a", "position": [1, 2]}]}]},
            r"markups\[0\]\.controlPoints\[0\]\.position must be 3 numbers",
        ),
        (
            {"markups": [{"controlPoints": [{"label": "a", "position": ["1", 2, 3]}]}]},
            r"controlPoints\[0\]\.position must be 3 numbers",
        ),
        ({"markups": [{"controlPoints": [{"label": 7, "position": [1, 2, 3]}]}]}, r"\.label must be text"),
        ({"markups": [{"coordinateSystem": "XYZ"}]}, r"markups\[0\]\.coordinateSystem is 'XYZ'"),
        ({"markups": [{"coordinateSystem": None}]}, r"coordinateSystem must be text"),
        ({"markups": [{"coordinateUnits": "cm"}]}, r"coordinateUnits is 'cm'"),
    ],
)
def test_malformed_markups_name_the_file_and_field(tmp_path, doc, message):
    path = tmp_path / "L.mrk.json"
    path.write_text(json.dumps(doc))
    with pytest.raises(InputFileError, match=message) as err:
        read_mrk_json(path)
    assert str(path) in str(err.value)


@pytest.mark.parametrize("diameter", ["seven", None, -5, 0, float("inf"), 25, True])
def test_screw_diameters_in_the_file_are_numbers_in_range(tmp_path, diameter):
    doc = copy.deepcopy(VALID_MARKUPS)
    doc["markups"] = doc["markups"][1:]
    doc["markups"][0]["screwDiameterMm"] = diameter
    path = tmp_path / "screws.mrk.json"
    path.write_text(json.dumps(doc))
    with pytest.raises(InputFileError, match=r"markups\[0\]\.screwDiameterMm") as err:
        read_screws(path)
    assert "between 0 and 20 mm" in str(err.value)


@pytest.mark.parametrize(
    ("insert", "message"),
    [
        ({"density_mg_cm3": 100, "center_lps": [0, 0]}, r"inserts\[1\]\.center_lps must be 3 numbers"),
        ({"density_mg_cm3": "100", "hu": 40}, r"inserts\[1\]\.density_mg_cm3 must be a number"),
        ({"density_mg_cm3": 100, "hu": "40"}, r"inserts\[1\]\.hu must be a number"),
        (
            {"density_mg_cm3": 100, "center_lps": [0, 0, 0], "radius_mm": -3},
            r"inserts\[1\]\.radius_mm: -3 mm",
        ),
        ({"density_mg_cm3": 100, "center_lps": [0, 0, 0], "radius_mm": 1e6}, r"radius_mm: 1000000.0 mm"),
        ({"density_mg_cm3": 100}, r"inserts\[1\] has neither 'hu' nor 'center_lps'"),
    ],
)
def test_malformed_inserts_name_the_field_in_one_line(tmp_path, insert, message):
    path = tmp_path / "inserts.json"
    path.write_text(json.dumps({"inserts": [{"density_mg_cm3": 0, "hu": 0}, insert]}))
    with pytest.raises(BoneQualityError, match=message) as err:
        read_phantom_inserts(path, volume=VOLUME)
    assert len(str(err.value).splitlines()) == 1


# ----------------------------------------------------------------------------- .seg.nrrd headers
HEADER_VALUES = (
    st.none()
    | st.integers(-5, 300)
    | st.text(max_size=8)
    | st.integers(-5, 300).map(str)
    | st.lists(st.integers(-3, 30), max_size=7).map(lambda v: " ".join(map(str, v)))
    | st.lists(st.integers(), max_size=3)
)
HEADERS = st.dictionaries(
    st.builds(
        "Segment{}_{}".format,
        st.integers(0, 4),
        st.sampled_from(["ID", "Name", "LabelValue", "Layer", "Extent", "Color", "Tags"]),
    )
    | st.text(max_size=6),
    HEADER_VALUES,
    max_size=10,
)


@settings(max_examples=300, deadline=None)
@given(header=HEADERS, layers=st.integers(1, 3))
def test_random_segment_fields_are_read_or_refused_with_one_line(header, layers):
    try:
        infos = segment_metadata(header, layers=layers, max_label=255, what="seg.seg.nrrd")
    except (InputFileError, MaskError) as exc:
        message = str(exc)
    else:
        assert all(0 <= i.layer < layers and 1 <= i.label_value <= 255 for i in infos)
        assert len({i.name for i in infos}) == len(infos)
        return
    assert "\n" not in message
    assert "seg.seg.nrrd" in message


def _seg_file(tmp_path):
    ref = VOLUME
    body = np.zeros(ref.array.shape, bool)
    body[4:12, 4:12, 4:12] = True
    inner = np.zeros_like(body)
    inner[6:9, 6:9, 6:9] = True  # overlaps: a second layer
    path = tmp_path / "segs.seg.nrrd"
    write_segmentation(path, {"Body": body, "Inner": inner}, ref)
    return path, body, inner


def _rewrite_header(path, changes):
    import nrrd

    voxels, header = nrrd.read(str(path))
    header.update(changes)
    for key in [k for k, v in changes.items() if v is None]:
        header.pop(key)
    nrrd.write(str(path), voxels, header)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    changes=st.dictionaries(
        st.builds(
            "Segment{}_{}".format,
            st.integers(0, 2),
            st.sampled_from(["Name", "LabelValue", "Layer", "Extent"]),
        ),
        st.none() | st.text(alphabet="0123456789 -abc", max_size=8),
        min_size=1,
        max_size=3,
    )
)
def test_seg_nrrd_with_mutated_segment_fields(tmp_path, changes):
    path, _, _ = _seg_file(tmp_path)
    _rewrite_header(path, changes)
    try:
        segments = read_segmentation(path)
    except (InputFileError, MaskError) as exc:
        message = str(exc)
    else:
        assert all(v.same_grid(VOLUME) for v in segments.values())
        return
    assert "\n" not in message
    assert path.name in message


def test_seg_nrrd_layer_past_the_stored_layers_and_duplicate_names(tmp_path):
    path, _, inner = _seg_file(tmp_path)
    back = read_segmentation(path)
    np.testing.assert_array_equal(back["Inner"].array, inner)
    _rewrite_header(path, {"Segment1_Layer": "5"})
    with pytest.raises(
        InputFileError, match=r"Segment1_Layer \('Inner'\) is '5'; it must be a whole number from 0 to 1"
    ):
        read_segmentation(path)
    _rewrite_header(path, {"Segment1_Layer": "1", "Segment1_LabelValue": "x"})
    with pytest.raises(InputFileError, match="Segment1_LabelValue is 'x'"):
        read_segmentation(path)
    _rewrite_header(path, {"Segment1_LabelValue": "2", "Segment1_Name": "Body"})
    with pytest.raises(MaskError, match=r"two segments are named 'Body' \(Segment0 and Segment1\)") as err:
        read_mask(path, segment="Body")
    assert path.name in str(err.value)


def test_seg_nrrd_is_written_as_slicer_lays_out_layers(tmp_path):
    """Layers along the first axis (kinds: list domain domain domain), as Slicer and slicerio read them."""
    import nrrd
    import slicerio

    path, body, inner = _seg_file(tmp_path)
    header = nrrd.read_header(str(path))
    assert header["kinds"] == ["list", "domain", "domain", "domain"]
    assert header["sizes"].tolist() == [2, *VOLUME.shape_ijk]
    raw = slicerio.read_segmentation(str(path))
    np.testing.assert_array_equal(slicerio.segment_mask(raw, "Inner").transpose(2, 1, 0), inner)
    np.testing.assert_array_equal(slicerio.segment_mask(raw, "Body").transpose(2, 1, 0), body)


def test_landmark_label_near_miss_says_did_you_mean(tmp_path):
    path = tmp_path / "L.mrk.json"
    write_mrk_json(path, Landmarks([("S1_body_top ", [0.0, 0.0, 0.0]), ("l5_body_center", [1.0, 1.0, 1.0])]))
    lm = read_mrk_json(path)
    with pytest.raises(BoneQualityError) as err:
        lm.validate(["S1_body_top", "L5_body_center"])
    msg = str(err.value)
    assert "S1_body_top (found 'S1_body_top ': did you mean 'S1_body_top'?)" in msg
    assert "L5_body_center (found 'l5_body_center': did you mean 'L5_body_center'?)" in msg
    assert len(msg.splitlines()) == 1
