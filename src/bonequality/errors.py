"""One exception family for the whole library.

Every message names the input that is wrong and says what to do about it. The CLI maps
:class:`BoneQualityError` to exit code 2 (bad input) and anything else to exit code 1.
"""

from __future__ import annotations

__all__ = [
    "AnalysisError",
    "BoneQualityError",
    "CalibrationError",
    "GeometryError",
    "GeometryMismatchError",
    "InputFileError",
    "LandmarkError",
    "MaskError",
    "MemoryLimitError",
    "MissingDependencyError",
    "NotCTError",
    "OperationCancelled",
    "OptionError",
    "OutputFolderError",
    "OutsideImageError",
    "SeedNotInBoneError",
]


class BoneQualityError(ValueError):
    """Base class: bad input that the user can fix. The message names the input."""


class InputFileError(BoneQualityError):
    """A file is missing, unreadable, corrupt or of an unsupported kind."""


class NotCTError(BoneQualityError):
    """An image does not look like a CT in Hounsfield units (e.g. an MR image)."""


class LandmarkError(BoneQualityError):
    """Landmarks are missing, duplicated, non-finite, outside the image or degenerate.

    Parameters
    ----------
    message : str
        Full, user-facing message.
    labels : sequence of str
        The landmark labels the problem concerns (for GUIs that highlight them).
    """

    def __init__(self, message: str, labels: tuple[str, ...] | list[str] = ()):
        super().__init__(message)
        self.labels = tuple(labels)


class OutsideImageError(LandmarkError):
    """A point lies outside the image extent."""


class GeometryError(BoneQualityError):
    """Degenerate geometry: coincident or collinear points, parallel lines, zero vectors."""


class MaskError(BoneQualityError):
    """A mask or segmentation is empty, does not overlap the image, or is too small."""


class GeometryMismatchError(MaskError):
    """Two images that must share a grid (or at least overlap) do not."""


class SeedNotInBoneError(LandmarkError, MaskError):
    """A seed point from which no vertebral body can be grown: it is a landmark the user
    placed (:class:`LandmarkError`) and the mask it should give is missing (:class:`MaskError`)."""


class CalibrationError(BoneQualityError):
    """A BMD calibration is malformed or ill-conditioned."""


class AnalysisError(BoneQualityError):
    """The data do not allow the measurement (e.g. a corridor that never leaves bone)."""


class OptionError(BoneQualityError):
    """An option or parameter is out of its range, not a number, or does not apply."""


class OperationCancelled(Exception):  # noqa: N818 - reads better at call sites than ...Error
    """Raised by a progress callback to stop long work; not an input error."""


class MemoryLimitError(BoneQualityError):
    """An input would need more memory than is available (or than the stated budget of one
    step, :data:`bonequality.memory.MEMORY_BUDGET`) before anything is allocated."""


class OutputFolderError(OptionError):
    """An ``--out`` folder that must not be written: empty name, a file, holding an input,
    holding files bonequality did not write, or results of another run (without ``--overwrite``)."""


class MissingDependencyError(BoneQualityError):
    """An optional part needs packages that are not installed (e.g. the ``[web]`` extra);
    the message names them and the install command."""
