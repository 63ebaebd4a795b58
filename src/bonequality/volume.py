"""Images in patient LPS millimetres: :class:`Volume`, its I/O and its geometry.

Conventions (the SimpleITK ones, used throughout the library):

* ``array`` is indexed ``[k, j, i]`` (numpy order, slowest axis first).
* ``spacing``, ``origin`` and the columns of ``direction`` are in ``(x, y, z)`` =
  ``(i, j, k)`` order; physical coordinates are LPS millimetres.
* ``physical = origin + direction @ (spacing * ijk)`` with ``ijk`` continuous indices
  whose integer values are voxel centres.

Slicer's RAS convention is handled only in :mod:`bonequality.frames`.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import SimpleITK as sitk
from scipy import ndimage

from . import dicom
from .errors import GeometryMismatchError, InputFileError, MaskError, NotCTError, OutsideImageError
from .interpolation import trilinear
from .masks import require_one_label
from .memory import bytes_per_component, check_image_fits
from .outputs import atomic_file

log = logging.getLogger(__name__)

__all__ = ["Volume", "read_dicom_series", "read_image"]

#: File endings SimpleITK reads and writes for us (``.seg.nrrd`` is handled by segmentation.py).
IMAGE_SUFFIXES = (".nrrd", ".nhdr", ".nii", ".nii.gz", ".mha", ".mhd")

#: Share of a mask (by volume) that must lie within the CT it is used on.
MIN_MASK_INSIDE = 0.95


def check_geometry(spacing, origin, direction, *, name: str = "image") -> None:
    """Raise :class:`InputFileError` naming ``name`` unless the grid is usable.

    Parameters
    ----------
    spacing : (3,) float, mm
        Positive and finite.
    origin : (3,) float, mm, LPS
        Finite.
    direction : (3, 3) float
        Orthonormal (no shear, no scaling): every analysis measures distances on the grid.
    """
    if not np.all(np.isfinite(spacing)) or np.any(spacing <= 0):
        raise InputFileError(f"{name}: image spacing must be positive and finite, got {spacing.tolist()}")
    if not np.all(np.isfinite(origin)):
        raise InputFileError(f"{name}: image origin must be finite, got {origin.tolist()}")
    if not np.all(np.isfinite(direction)) or not np.allclose(direction.T @ direction, np.eye(3), atol=1e-4):
        raise InputFileError(
            f"{name}: the direction matrix is not orthonormal (sheared or scaled axes: "
            f"{np.round(direction, 4).tolist()}); resample the image onto an orthogonal grid first "
            "(e.g. Slicer's Resample Scalar Volume, or harden its transform)."
        )


@dataclass(frozen=True, eq=False)
class Volume:
    """A 3-D image on an oriented grid in LPS millimetres.

    Parameters
    ----------
    array : (nk, nj, ni) ndarray
        Voxel values, numpy ``[k, j, i]`` order.
    spacing : (3,) float, mm
        Voxel size along ``i, j, k``.
    origin : (3,) float, mm, LPS
        Physical position of voxel ``(0, 0, 0)``'s centre.
    direction : (3, 3) float
        Orthonormal matrix whose columns are the LPS unit vectors of the ``i, j, k`` axes.
    """

    array: np.ndarray
    spacing: np.ndarray
    origin: np.ndarray
    direction: np.ndarray

    def __post_init__(self) -> None:
        arr = np.asarray(self.array)
        if arr.ndim != 3:
            raise InputFileError(f"image must be 3-D, got an array of shape {arr.shape}")
        spacing = np.asarray(self.spacing, dtype=float).reshape(3)
        origin = np.asarray(self.origin, dtype=float).reshape(3)
        direction = np.asarray(self.direction, dtype=float).reshape(3, 3)
        check_geometry(spacing, origin, direction)
        object.__setattr__(self, "array", arr)
        object.__setattr__(self, "spacing", spacing)
        object.__setattr__(self, "origin", origin)
        object.__setattr__(self, "direction", direction)

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_array(
        cls,
        array: np.ndarray,
        *,
        spacing=(1.0, 1.0, 1.0),
        origin=(0.0, 0.0, 0.0),
        direction=None,
    ) -> Volume:
        """Build a volume from a ``[k, j, i]`` array and its geometry (identity direction by default)."""
        return cls(
            array, np.asarray(spacing), np.asarray(origin), np.eye(3) if direction is None else direction
        )

    def with_array(self, array: np.ndarray) -> Volume:
        """A volume on the same grid holding ``array`` (same shape required)."""
        array = np.asarray(array)
        if array.shape != self.array.shape:
            raise GeometryMismatchError(
                f"array shape {array.shape} does not match the grid {self.array.shape}"
            )
        return Volume(array, self.spacing, self.origin, self.direction)

    # ------------------------------------------------------------------ geometry
    @property
    def shape_ijk(self) -> tuple[int, int, int]:
        """Grid size in ``(i, j, k)`` order."""
        nk, nj, ni = self.array.shape
        return ni, nj, nk

    @property
    def voxel_volume_mm3(self) -> float:
        """Volume of one voxel in mm³."""
        return float(np.prod(self.spacing))

    @property
    def index_to_physical_matrix(self) -> np.ndarray:
        """(4, 4) homogeneous matrix mapping ``(i, j, k, 1)`` to LPS ``(x, y, z, 1)``."""
        m = np.eye(4)
        m[:3, :3] = self.direction * self.spacing[np.newaxis, :]
        m[:3, 3] = self.origin
        return m

    def index_to_physical(self, ijk) -> np.ndarray:
        """Continuous indices ``(..., 3)`` in ``(i, j, k)`` order to LPS mm ``(..., 3)``."""
        return _affine(ijk, self.direction * self.spacing, self.origin)

    def physical_to_index(self, points) -> np.ndarray:
        """LPS mm ``(..., 3)`` to continuous ``(i, j, k)`` indices ``(..., 3)``."""
        # direction is orthonormal, so its inverse is its transpose.
        inverse = self.direction.T / self.spacing[:, np.newaxis]
        return _affine(points, inverse, -inverse @ self.origin)

    def contains(self, points, *, margin_mm: float = 0.0) -> np.ndarray:
        """Whether LPS points lie inside the image extent (voxel edges), shrunk by ``margin_mm``."""
        idx = self.physical_to_index(points)
        lo = -0.5 + margin_mm / self.spacing
        hi = np.asarray(self.shape_ijk, dtype=float) - 0.5 - margin_mm / self.spacing
        return np.all((idx >= lo) & (idx <= hi), axis=-1)

    def require_inside(self, points, names, *, what: str = "point") -> None:
        """Raise :class:`OutsideImageError` naming every point outside the image."""
        points = np.atleast_2d(np.asarray(points, dtype=float))
        names = list(names)
        inside = self.contains(points)
        bad = [n for n, ok in zip(names, inside) if not ok]
        if bad:
            lo, hi = self.physical_bounds()
            raise OutsideImageError(
                f"{what}(s) outside the image: {', '.join(bad)}. The image spans LPS "
                f"{np.round(lo, 1).tolist()} to {np.round(hi, 1).tolist()} mm; move them onto the anatomy.",
                bad,
            )

    def physical_bounds(self) -> tuple[np.ndarray, np.ndarray]:
        """Axis-aligned LPS bounding box ``(min, max)`` of the image's voxel corners."""
        n = np.asarray(self.shape_ijk, dtype=float)
        corners = np.array(
            [[a, b, c] for a in (-0.5, n[0] - 0.5) for b in (-0.5, n[1] - 0.5) for c in (-0.5, n[2] - 0.5)]
        )
        pts = self.index_to_physical(corners)
        return pts.min(axis=0), pts.max(axis=0)

    def center(self) -> np.ndarray:
        """LPS position of the grid centre."""
        return self.index_to_physical((np.asarray(self.shape_ijk, dtype=float) - 1) / 2)

    def same_grid(self, other: Volume, *, atol: float = 1e-4) -> bool:
        """True when ``other`` has the same shape, spacing, origin and direction."""
        return (
            self.array.shape == other.array.shape
            and np.allclose(self.spacing, other.spacing, atol=atol)
            and np.allclose(self.origin, other.origin, atol=atol)
            and np.allclose(self.direction, other.direction, atol=atol)
        )

    # ------------------------------------------------------------------ sampling
    def sample(self, points, *, order: int = 1, fill: float = np.nan) -> np.ndarray:
        """Interpolate the image at LPS points.

        Parameters
        ----------
        points : (..., 3) float, mm, LPS
        order : int
            Spline order: 1 = trilinear (default), 0 = nearest voxel.
        fill : float
            Value returned outside the image (NaN by default).

        Returns
        -------
        (...) float64 ndarray
        """
        pts = np.asarray(points, dtype=float)
        shape = pts.shape[:-1]
        pts = pts.reshape(-1, 3)
        # (k, j, i) rows for map_coordinates, built column by column (no BLAS matmul, which
        # spawns threads and is erratic on a loaded 2-core machine); the array is read in
        # place, whatever its dtype, so a large integer CT is never copied.
        inverse = self.direction.T / self.spacing[:, np.newaxis]  # LPS offset -> ijk
        d = [pts[:, a] - self.origin[a] for a in range(3)]
        coords = np.empty((3, pts.shape[0]))
        outside = np.zeros(pts.shape[0], dtype=bool)
        upper = np.asarray(self.shape_ijk, dtype=float) - 0.5
        for c in range(3):
            row = coords[2 - c]
            np.multiply(d[0], inverse[c, 0], out=row)
            row += d[1] * inverse[c, 1]
            row += d[2] * inverse[c, 2]
            outside |= ~((row >= -0.5) & (row <= upper[c]))
        data = self.array if self.array.dtype != bool else self.array.view(np.uint8)
        out = trilinear(data, coords) if order == 1 else None
        if out is not None and data.dtype.kind == "f" and not np.isfinite(np.sum(out)):
            out = None  # non-finite voxels: scipy's handling of them, not ours
        if out is None:
            out = ndimage.map_coordinates(data, coords, order=order, mode="nearest", output=np.float64)
        out[outside] = fill
        return out.reshape(shape)

    # ------------------------------------------------------------------ resampling
    def resample_like(self, reference: Volume, *, order: int = 0, fill: float = 0) -> Volume:
        """Resample onto ``reference``'s grid (nearest neighbour by default, for masks)."""
        interp = sitk.sitkNearestNeighbor if order == 0 else sitk.sitkLinear
        out = sitk.Resample(self.to_sitk(), reference.to_sitk(), sitk.Transform(), interp, float(fill))
        return Volume.from_sitk(out)

    def resample_isotropic(self, spacing_mm: float, *, order: int = 1) -> Volume:
        """Resample to isotropic ``spacing_mm`` on the same oriented extent."""
        n = np.asarray(self.shape_ijk, dtype=float)
        new_n = np.maximum(1, np.round(n * self.spacing / spacing_mm)).astype(int)
        ref = sitk.Image([int(v) for v in new_n], sitk.sitkUInt8)
        ref.SetSpacing([spacing_mm] * 3)
        ref.SetDirection(self.direction.ravel().tolist())
        # Keep the outer voxel edge where it was.
        ref.SetOrigin(self.index_to_physical([-0.5] * 3) + self.direction @ np.full(3, spacing_mm / 2))
        interp = sitk.sitkNearestNeighbor if order == 0 else sitk.sitkLinear
        src = self.to_sitk()
        if order != 0:
            src = sitk.Cast(src, sitk.sitkFloat32)
        return Volume.from_sitk(sitk.Resample(src, ref, sitk.Transform(), interp, 0.0))

    # ------------------------------------------------------------------ checks
    def require_ct(self, name: str = "image") -> None:
        """Raise :class:`NotCTError` unless the values look like CT in Hounsfield units.

        A CT in HU has air or fat (-1100 to -150 HU) somewhere and nothing far below -1100
        other than scanner padding (-2048, -3024, ...). An MR image or a CT whose stored
        values were never rescaled (air near 0) has no such voxels. A CT holding NaN or
        infinite voxels is refused (:func:`require_finite`): every CT of every analysis
        passes here (:func:`bonequality.validation.check_ct`), from files and Slicer nodes.
        """
        a = self.array
        if a.dtype.kind not in "iuf":
            raise NotCTError(f"{name}: pixel type {a.dtype} is not a scalar CT image")
        require_finite(a, name)
        sample = a.ravel()[:: max(1, a.size // 2_000_000)].astype(np.float32)
        low_tissue = np.mean((sample >= -1100) & (sample <= -150))
        bone_or_soft = np.mean((sample > -150) & (sample < 4000))
        if low_tissue < 1e-4 or bone_or_soft < 1e-3:
            raise NotCTError(
                f"{name} does not look like a CT in Hounsfield units (values {float(sample.min()):.0f} "
                f"to {float(sample.max()):.0f}; no air or fat below -150 HU). Load a CT with the DICOM "
                "rescale applied, not an MR or an unscaled image."
            )

    def require_overlap(self, other: Volume, *, name: str, other_name: str = "the CT") -> None:
        """Raise :class:`GeometryMismatchError` if the two images' extents do not intersect."""
        lo1, hi1 = self.physical_bounds()
        lo2, hi2 = other.physical_bounds()
        if np.any(hi1 < lo2) or np.any(hi2 < lo1):
            raise GeometryMismatchError(
                f"{name} does not overlap {other_name}: it spans LPS {np.round(lo1, 1).tolist()} to "
                f"{np.round(hi1, 1).tolist()} mm, {other_name} {np.round(lo2, 1).tolist()} to "
                f"{np.round(hi2, 1).tolist()} mm. Use a mask made on this CT."
            )

    def mask_on(
        self, reference: Volume, *, name: str = "mask", min_inside: float = MIN_MASK_INSIDE
    ) -> np.ndarray:
        """This image as a boolean mask on ``reference``'s grid (nonzero = inside).

        Resamples with nearest neighbour when the grids differ. Raises :class:`MaskError`
        when the mask is empty or holds several labels (the labels are listed), and
        :class:`GeometryMismatchError` when less than ``min_inside`` (default
        :data:`MIN_MASK_INSIDE`, 95 %) of it by volume - its voxels whose centres fall inside
        ``reference`` - lies within ``reference`` (0: any overlap will do).
        """
        if not np.any(self.array):
            raise MaskError(f"{name} is empty (no nonzero voxels); segment the structure first.")
        same = self.same_grid(reference)
        if not same:
            self.require_overlap(reference, name=name)
        require_one_label(self.array, self.voxel_volume_mm3, name)
        if not same:
            self.require_within(reference, name=name, min_inside=min_inside)
            resampled = self.with_array((self.array != 0).astype(np.uint8)).resample_like(reference, order=0)
            mask = resampled.array != 0
        else:
            mask = self.array != 0
        if not mask.any():
            raise GeometryMismatchError(f"{name} does not overlap the CT after resampling onto its grid.")
        return mask

    def inside_fraction(self, reference: Volume, *, chunk: int = 1_000_000) -> float:
        """Share of this mask's set voxels whose centres lie within ``reference``'s extent.

        All voxels of a grid have one volume, so this is the share of the mask's volume
        (mm^3) inside ``reference``. Counted in chunks of ``chunk`` voxels (bounded memory).
        """
        flat = np.flatnonzero(self.array)
        if flat.size == 0:
            return 0.0
        inside = 0
        for start in range(0, flat.size, chunk):
            k, j, i = np.unravel_index(flat[start : start + chunk], self.array.shape)
            pts = self.index_to_physical(np.stack([i, j, k], axis=-1).astype(float))
            inside += int(np.count_nonzero(reference.contains(pts)))
        return inside / flat.size

    def require_within(
        self, reference: Volume, *, name: str, other_name: str = "the CT", min_inside: float = MIN_MASK_INSIDE
    ) -> None:
        """:class:`GeometryMismatchError` unless ``min_inside`` of the mask lies in ``reference``."""
        if min_inside <= 0:
            return
        share = self.inside_fraction(reference)
        if share < min_inside:
            ml = float(np.count_nonzero(self.array)) * self.voxel_volume_mm3 / 1000
            lo1, hi1 = self.physical_bounds()
            lo2, hi2 = reference.physical_bounds()
            raise GeometryMismatchError(
                f"{name}: only {100 * share:.0f} % of its {ml:.1f} ml lies within {other_name} (at least "
                f"{100 * min_inside:.0f} % must): it spans LPS {np.round(lo1, 1).tolist()} to "
                f"{np.round(hi1, 1).tolist()} mm, {other_name} {np.round(lo2, 1).tolist()} to "
                f"{np.round(hi2, 1).tolist()} mm. Use a mask made on this CT, on a CT covering the structure."
            )

    # ------------------------------------------------------------------ SimpleITK and files
    def to_sitk(self) -> sitk.Image:
        """SimpleITK image with the same geometry (the array is copied)."""
        arr = self.array
        if arr.dtype == bool:
            arr = arr.astype(np.uint8)
        img = sitk.GetImageFromArray(np.ascontiguousarray(arr))
        img.SetSpacing(self.spacing.tolist())
        img.SetOrigin(self.origin.tolist())
        img.SetDirection(self.direction.ravel().tolist())
        return img

    @classmethod
    def from_sitk(cls, image: sitk.Image, *, name: str = "image") -> Volume:
        """Volume from a 3-D scalar SimpleITK image (``name``: how errors call it)."""
        check_layout(name, image.GetDimension(), image.GetSize(), image.GetNumberOfComponentsPerPixel())
        spacing = np.array(image.GetSpacing(), dtype=float)
        origin = np.array(image.GetOrigin(), dtype=float)
        direction = np.array(image.GetDirection(), dtype=float).reshape(3, 3)
        check_geometry(spacing, origin, direction, name=name)
        return cls(sitk.GetArrayFromImage(image), spacing, origin, direction)

    @classmethod
    def read(cls, path: str | os.PathLike, *, name: str | None = None, series: str | None = None) -> Volume:
        """Read NRRD, NIfTI, MHA/MHD or a DICOM series folder (see :func:`read_image`)."""
        return read_image(path, name=name, series=series)

    def write(self, path: str | os.PathLike, *, compress: bool = True) -> None:
        """Write atomically to NRRD, NIfTI or MHA (chosen by the file ending)."""
        path = Path(path)
        if not str(path).lower().endswith(IMAGE_SUFFIXES):
            raise InputFileError(f"{path}: unsupported output ending; use one of {', '.join(IMAGE_SUFFIXES)}")
        with atomic_file(path) as tmp:
            sitk.WriteImage(self.to_sitk(), str(tmp), compress)


def _affine(points, matrix: np.ndarray, offset: np.ndarray) -> np.ndarray:
    """``points @ matrix.T + offset`` for ``(..., 3)`` points, column by column.

    An (N, 3) @ (3, 3) product does not reach BLAS and is several times slower than
    three fused multiply-adds per output column on large point sets.
    """
    p = np.asarray(points, dtype=float)
    out = np.empty(p.shape, dtype=float)
    x, y, z = p[..., 0], p[..., 1], p[..., 2]
    for r in range(3):
        out[..., r] = matrix[r, 0] * x + matrix[r, 1] * y + matrix[r, 2] * z + offset[r]
    return out


def require_finite(array: np.ndarray, name: str) -> None:
    """Raise :class:`NotCTError` if a float image holds NaN or infinite voxels, counting them.

    The one rule for non-finite voxels: they are refused, never masked, since a NaN or an
    infinity in a CT is a broken export and any mean or mask made over it is wrong.
    """
    if array.dtype.kind != "f" or np.isfinite(np.sum(array, dtype=np.float64)):
        return
    n_nan = int(np.count_nonzero(np.isnan(array)))
    n_inf = int(np.count_nonzero(np.isinf(array)))
    if n_nan == n_inf == 0:  # the sum overflowed on finite values
        return
    raise NotCTError(
        f"{name} holds {n_nan} NaN and {n_inf} infinite voxel values (of {array.size}), so densities and "
        "masks made on it would be wrong; re-export the CT from its DICOM series, or replace them "
        "(e.g. by -1024 HU, air) before the analysis."
    )


def check_layout(label: str, dimension: int, size, components: int) -> None:
    """Raise :class:`InputFileError` naming ``label`` unless the image is one scalar 3-D volume.

    A 4-D image with a single time point or channel counts as 3-D.
    """
    size = tuple(int(v) for v in size)
    if dimension == 2:
        raise InputFileError(f"{label}: is a 2-D image; a 3-D CT volume is needed.")
    if dimension == 4 and size[3] != 1:
        raise InputFileError(
            f"{label}: is a 4-D image ({' x '.join(map(str, size))} voxels: {size[3]} time points or "
            "channels); give one 3-D volume (e.g. export a single phase)."
        )
    if dimension not in (3, 4):
        raise InputFileError(f"{label}: is a {dimension}-D image; a 3-D CT volume is needed.")
    if components != 1:
        kind = "an RGB(A) colour" if components in (3, 4) else "a vector"
        raise InputFileError(
            f"{label}: is {kind} image with {components} components per voxel; a scalar (grey-value) "
            "CT or label map is needed, not a screenshot or a colour-rendered volume."
        )


def _check_header(path: Path, label: str) -> None:
    """Read ``path``'s header only; refuse a wrong layout or geometry and what cannot fit in memory."""
    reader = sitk.ImageFileReader()
    reader.SetFileName(str(path))
    try:
        reader.ReadImageInformation()
    except RuntimeError as exc:
        first = str(exc).strip().splitlines()[-1] if str(exc).strip() else "unknown reader error"
        raise InputFileError(
            f"{label}: cannot be read as an image ({first[:200]}). "
            "Is it a complete NRRD, NIfTI, MHA or DICOM file?"
        ) from exc
    size, dim, comps = reader.GetSize(), reader.GetDimension(), reader.GetNumberOfComponents()
    check_layout(label, dim, size, comps)
    d = np.asarray(reader.GetDirection(), dtype=float).reshape(dim, dim)[:3, :3]
    check_geometry(
        np.asarray(reader.GetSpacing(), dtype=float)[:3],
        np.asarray(reader.GetOrigin(), dtype=float)[:3],
        d,
        name=label,
    )
    bpv = bytes_per_component(sitk.GetPixelIDValueAsString(reader.GetPixelID())) * comps
    check_image_fits(label, size, bpv)


def _dicom_path(path: Path) -> tuple[Path, str] | None:
    """``FOLDER/UID`` (a series instance UID that is no file of the folder) -> (FOLDER, UID)."""
    uid = path.name
    if path.parent.is_dir() and uid and all(c.isdigit() or c == "." for c in uid):
        return path.parent, uid
    return None


def read_image(path: str | os.PathLike, *, name: str | None = None, series: str | None = None) -> Volume:
    """Read a 3-D image: a file SimpleITK reads, or a folder holding a DICOM series.

    The header is read first: a 2-D, 4-D, colour (RGB) or vector image, a non-orthonormal
    direction, or an image too large for the memory available
    (:func:`bonequality.memory.check_image_fits`) is refused, naming the file, before any
    voxel is read.

    Parameters
    ----------
    path : path-like
        File (``.nrrd``, ``.nii.gz``, ``.mha``, ...), DICOM folder, or ``FOLDER/UID`` for
        one series of a folder holding several.
    name : str, optional
        How to call this input in error messages (default: the path).
    series : str, optional
        Series instance UID, for a DICOM folder (:func:`read_dicom_series`).
    """
    path = Path(path)
    label = name or str(path)
    if not path.exists():
        folder_uid = _dicom_path(path)
        if folder_uid is not None and series is None:
            return read_dicom_series(folder_uid[0], name=label, series=folder_uid[1])
        raise InputFileError(f"{label}: file not found; check the path.")
    if path.is_dir():
        return read_dicom_series(path, name=label, series=series)
    _check_header(path, label)
    try:
        image = sitk.ReadImage(str(path))
    except RuntimeError as exc:
        first = str(exc).strip().splitlines()[-1] if str(exc).strip() else "unknown reader error"
        raise InputFileError(
            f"{label}: cannot be read as an image ({first[:200]}). "
            "Is it a complete NRRD, NIfTI, MHA or DICOM file?"
        ) from exc
    if image.GetDimension() == 4 and image.GetSize()[3] == 1:
        image = image[:, :, :, 0]
    return Volume.from_sitk(image, name=label)


def read_dicom_series(
    folder: str | os.PathLike, *, name: str | None = None, series: str | None = None
) -> Volume:
    """Read one DICOM series of ``folder`` (rescale slope/intercept applied by GDCM).

    Parameters
    ----------
    folder : path-like
    name : str, optional
        How to call this input in error messages (default: the path).
    series : str, optional
        Series instance UID; needed when the folder holds several series (the message
        lists them).

    Raises
    ------
    InputFileError
        No series or several without ``series``, an unreadable file, a missing or
        duplicated slice (:mod:`bonequality.dicom`), or a colour image.
    MemoryLimitError
        The series does not fit in the memory available.
    """
    folder = Path(folder)
    label = name or str(folder)
    files = dicom.series_files(folder, label, series)
    head = sitk.ImageFileReader()
    head.SetFileName(files[0])
    head.ReadImageInformation()
    comps = head.GetNumberOfComponents()
    check_layout(label, 3, (*head.GetSize()[:2], len(files)), comps)
    bpv = bytes_per_component(sitk.GetPixelIDValueAsString(head.GetPixelID())) * comps
    check_image_fits(label, (*head.GetSize()[:2], len(files)), bpv)
    image = dicom.read_series(files, label)
    log.info("read DICOM series of %d slices from %s", len(files), folder)
    return Volume.from_sitk(image, name=label)
