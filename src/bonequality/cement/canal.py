"""The spinal canal with the cement options (:func:`bonequality.imaging.canal.find_canal`)."""

from __future__ import annotations

import numpy as np

from ..imaging import canal as _canal
from ..imaging.canal import CanalInfo
from ..volume import Volume
from .options import CementOptions

__all__ = ["CanalInfo", "find_canal"]


def find_canal(
    vol: Volume,
    mask: np.ndarray,
    *,
    options: CementOptions | None = None,
    z_window: tuple[float, float] | None = None,
    exclude_point=None,
) -> CanalInfo:
    """:func:`bonequality.imaging.canal.find_canal` with ``options.working_spacing_mm`` and
    ``options.max_canal_width_mm``.

    Parameters
    ----------
    vol : Volume
        Grid of ``mask``.
    mask : bool ndarray
        Bone or whole-vertebra mask (posterior elements enclosing the canal).
    options : CementOptions, optional
        Default ``CementOptions()``.
    z_window : (float, float), optional
        Only slices in this LPS z range (mm) are used for the wall plane.
    exclude_point : (3,) float, mm, LPS, optional
        A point inside the vertebral body (the seed): the hole holding it is not the canal.
    """
    options = CementOptions() if options is None else options
    return _canal.find_canal(
        vol,
        mask,
        working_spacing_mm=options.working_spacing_mm,
        max_canal_width_mm=options.max_canal_width_mm,
        z_window=z_window,
        exclude_point=exclude_point,
    )
