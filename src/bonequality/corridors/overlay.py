"""The thermal overlay on the CT (CLINICAL.md section 2, "Thermal map"): HU inside the bone.

Seed 000 shows density in colour over the sacrum, denser = hotter, with the fatty alae
cold. A bone threshold alone cannot show that: fatty or osteoporotic marrow is below any
threshold, so only the cortex would be coloured. The overlay therefore colours every
voxel *inside the bone envelope* with its HU on one scale (:data:`THERMAL_RANGE_HU`, the
scale of the report's straightened thermal images), and nothing outside it:

* the envelope is the sacrum mask when there is one
  (:func:`bonequality.imaging.envelope.mask_envelope`), else the region the cortical shell
  encloses (:func:`bonequality.imaging.envelope.cortical_envelope`, the sacroplasty
  planner's reading), built in the landmarks' box grown by :attr:`ThermalOverlay.margin_mm`;
* the overlay is a crop of the CT grid around the envelope (int16 HU, clipped; voxels
  outside are :data:`OUTSIDE_HU`), so it costs a few MB, not a copy of the CT;
* :class:`ThermalOverlay` keeps it while the landmarks stay inside half the margin and the
  threshold is the same (a live corridor update keeps its threshold), so a dragged
  landmark does not rebuild it.
"""

from __future__ import annotations

import numpy as np

from ..colors import THERMAL_RANGE_HU
from ..imaging.envelope import DEFAULT_CLOSING_MM, Envelope, cortical_envelope, mask_envelope
from ..imaging.grid import bbox_slices, crop
from ..volume import Volume

__all__ = ["OUTSIDE_HU", "THERMAL_RANGE_HU", "ThermalOverlay", "thermal_overlay"]

#: Value of the overlay's voxels outside the envelope (shown transparent).
OUTSIDE_HU = -32768
#: Margin (mm) around the landmarks' box the cortical envelope is built in.
DEFAULT_MARGIN_MM = 40.0


def _envelope_slices(ct: Volume, envelope: Envelope) -> tuple[slice, ...]:
    """``[k, j, i]`` slices of ``ct`` that the envelope's grid (a crop of it) covers."""
    first = np.rint(ct.physical_to_index(envelope.mask.origin)).astype(int)
    n = envelope.mask.array.shape
    return tuple(slice(int(first[2 - a]), int(first[2 - a]) + n[a]) for a in range(3))


def thermal_overlay(ct: Volume, envelope: Envelope) -> Volume:
    """The CT's HU inside ``envelope`` (int16), :data:`OUTSIDE_HU` outside, cropped to the envelope.

    Parameters
    ----------
    ct : Volume
        CT in HU.
    envelope : Envelope
        On ``ct``'s grid or a crop of it (:mod:`bonequality.imaging.envelope`).

    Returns
    -------
    Volume
        int16 on the crop of ``ct``'s grid around the envelope's inside (same spacing and
        direction); an empty envelope gives a one-voxel volume holding :data:`OUTSIDE_HU`.
    """
    inside = np.asarray(envelope.mask.array, dtype=bool)
    sub = crop(ct, _envelope_slices(ct, envelope))
    if not inside.any():
        return crop(sub, (slice(0, 1),) * 3).with_array(np.full((1, 1, 1), OUTSIDE_HU, dtype=np.int16))
    box = bbox_slices(inside)
    hu = np.clip(np.asarray(sub.array[box], dtype=np.float64), OUTSIDE_HU + 1, 32767)
    values = np.where(inside[box], np.rint(hu), OUTSIDE_HU).astype(np.int16)
    return crop(sub, box).with_array(values)


class ThermalOverlay:
    """The overlay of one CT, rebuilt only when the landmarks leave the box it was built for.

    Parameters
    ----------
    margin_mm : float
        The cortical envelope is built in the landmarks' box grown by this margin, and
        reused while the landmarks stay within half of it.
    closing_mm : float
        Rolling-ball radius of the cortical envelope (the sacroplasty planner's default).
    """

    def __init__(self, *, margin_mm: float = DEFAULT_MARGIN_MM, closing_mm: float = DEFAULT_CLOSING_MM):
        self.margin_mm = float(margin_mm)
        self.closing_mm = float(closing_mm)
        self._key = None
        self._envelope: Envelope | None = None
        self.volume: Volume | None = None

    def update(self, ct: Volume, threshold_hu: float, points, *, sacrum_mask=None) -> bool:
        """Make :attr:`volume` current for ``ct``, the bone threshold and the landmark ``points``.

        ``sacrum_mask`` (a Volume or a bool array on the CT grid) is the envelope when given.
        Returns whether :attr:`volume` changed.
        """
        key = (ct, sacrum_mask)  # compared by identity: no id() reuse
        pts = np.asarray(points, dtype=float).reshape(-1, 3)
        lo, hi = pts.min(axis=0), pts.max(axis=0)
        same = self._key is not None and all(a is b for a, b in zip(key, self._key, strict=True))
        if same and (sacrum_mask is not None or self._reusable(ct, threshold_hu, lo, hi)):
            return False
        if sacrum_mask is not None:
            envelope = mask_envelope(ct, sacrum_mask)
        else:
            m = self.margin_mm
            envelope = cortical_envelope(
                ct, threshold_hu, closing_mm=self.closing_mm, region=(lo - m, hi + m)
            )
        self._key, self._envelope = key, envelope
        self.volume = thermal_overlay(ct, envelope)
        return True

    def _reusable(self, ct: Volume, threshold_hu: float, lo: np.ndarray, hi: np.ndarray) -> bool:
        img_lo, img_hi = ct.physical_bounds()
        m = self.margin_mm / 2
        need_lo, need_hi = np.maximum(lo - m, img_lo + 1e-6), np.minimum(hi + m, img_hi - 1e-6)
        envelope = self._envelope
        return envelope is not None and envelope.reusable(threshold_hu, need_lo, need_hi)
