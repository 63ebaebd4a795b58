"""bonequality: CT bone quality around the sacrum and spine.

The pure library behind the SlicerBoneQuality extension. It depends on numpy, scipy,
SimpleITK and pandas only; it never imports ``slicer``, ``qt``, ``ctk`` or ``vtk`` at
import time (the MRML adapters in :mod:`bonequality.mrml` do, when imported).

Geometry is in patient LPS millimetres throughout.
"""

from importlib.metadata import PackageNotFoundError, version

from .errors import (
    AnalysisError,
    BoneQualityError,
    CalibrationError,
    GeometryError,
    GeometryMismatchError,
    InputFileError,
    LandmarkError,
    MaskError,
    NotCTError,
    OperationCancelled,
    OptionError,
    OutsideImageError,
)
from .landmarks import Landmarks, read_mrk_json, write_mrk_json
from .volume import Volume, read_image

try:
    __version__ = version("bonequality")
except PackageNotFoundError:  # running from a source tree without installation (e.g. inside Slicer)
    __version__ = "0.1.0"

__all__ = [
    "AnalysisError",
    "BoneQualityError",
    "CalibrationError",
    "GeometryError",
    "GeometryMismatchError",
    "InputFileError",
    "LandmarkError",
    "Landmarks",
    "MaskError",
    "NotCTError",
    "OperationCancelled",
    "OptionError",
    "OutsideImageError",
    "Volume",
    "__version__",
    "read_image",
    "read_mrk_json",
    "write_mrk_json",
]
