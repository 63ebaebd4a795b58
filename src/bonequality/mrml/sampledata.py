"""The phantoms as Slicer sample data: generated on demand, loaded as MRML nodes.

:func:`load_phantom` builds a phantom with :func:`bonequality.phantoms.make_phantom` and
adds its CT, landmarks and masks to the scene (no files, no network).
:func:`register_sample_data` offers them in Slicer's Sample Data module; it needs the
Slicer application and is called by each module at start-up when SampleData exists.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import slicer

from ..phantoms import make_phantom
from .markups import landmarks_to_node
from .segmentations import segmentation_node_from_masks
from .volumes import volume_to_node

log = logging.getLogger(__name__)

__all__ = ["SAMPLES", "LoadedPhantom", "load_phantom", "register_sample_data"]

#: Sample name -> (phantom generator name, generator options, description).
SAMPLES: dict[str, tuple[str, dict, str]] = {
    "BoneQualityPelvis": ("pelvis", {}, "Pelvis phantom (normal bone density), with landmarks"),
    "BoneQualityPelvisOsteoporotic": (
        "pelvis",
        {"osteoporotic": True},
        "Pelvis phantom (osteoporotic, L5 <= 100 HU), with landmarks",
    ),
    "BoneQualityVertebra": ("vertebra", {}, "Lumbar vertebral body phantom with a focal defect"),
    "BoneQualityCementedVertebra": ("cemented-vertebra", {}, "Vertebra after vertebroplasty, with a leak"),
}

CATEGORY = "BoneQuality phantoms"


@dataclass
class LoadedPhantom:
    """Nodes made from one phantom."""

    volume: object
    landmarks: object | None = None
    segmentation: object | None = None
    truth: dict = field(default_factory=dict)


def load_phantom(sample: str, *, scene=None, **options) -> LoadedPhantom:
    """Generate a phantom and add its CT, landmarks and masks to ``scene``.

    Parameters
    ----------
    sample : str
        A key of :data:`SAMPLES` or a phantom generator name (``"pelvis"``, ...).
    **options
        Passed to the generator (e.g. ``spacing=``, ``direction=``).
    """
    generator, defaults, _ = SAMPLES.get(sample, (sample, {}, ""))
    phantom = make_phantom(generator, **{**defaults, **options})
    name = sample if sample in SAMPLES else f"BoneQuality {sample}"
    volume = volume_to_node(phantom.volume, name=name, scene=scene)
    landmarks = None
    if phantom.landmarks is not None:
        landmarks = landmarks_to_node(phantom.landmarks, name=f"{name} landmarks", scene=scene)
    segmentation = None
    if phantom.masks:
        segmentation = segmentation_node_from_masks(
            dict(phantom.masks), phantom.volume, name=f"{name} masks", reference_node=volume, scene=scene
        )
    return LoadedPhantom(volume, landmarks, segmentation, dict(phantom.truth))


_registered: set[str] = set()


def register_sample_data(thumbnail_dir: str | None = None) -> None:
    """Register the phantoms with Slicer's Sample Data module (inside Slicer only; idempotent).

    Each of the three modules calls this at start-up; the phantoms are registered once.
    """
    try:
        import SampleData
    except ImportError:
        log.debug("SampleData module not available; phantoms not registered")
        return
    for sample in SAMPLES:
        if sample in _registered:
            continue
        SampleData.SampleDataLogic.registerCustomSampleDataSource(
            category=CATEGORY,
            sampleName=sample,
            uris=[f"bonequality:phantom/{sample}"],
            fileNames=[f"{sample}.nrrd"],
            nodeNames=[sample],
            thumbnailFileName=None if thumbnail_dir is None else f"{thumbnail_dir}/{sample}.png",
            customDownloader=lambda source: load_phantom(source.sampleName, scene=slicer.mrmlScene).volume,
        )
        _registered.add(sample)
