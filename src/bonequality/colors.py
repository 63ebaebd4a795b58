"""The "thermal" density colour scale shared by report pictures and Slicer colour tables.

Denser = hotter: blue -> green -> yellow -> red (seed 000, Figures 3 and 4).
"""

from __future__ import annotations

import numpy as np

__all__ = ["THERMAL_RANGE_HU", "THERMAL_STOPS", "thermal_cmap", "thermal_rgb"]

#: HU mapped to the first and the last colour, wherever CT density is shown in thermal
#: colours: the overlay on the CT, the straightened probe images and the report.
THERMAL_RANGE_HU = (-100.0, 700.0)

#: (position 0-1, (r, g, b) 0-1) stops of the thermal scale.
THERMAL_STOPS: tuple[tuple[float, tuple[float, float, float]], ...] = (
    (0.00, (0.00, 0.00, 0.55)),
    (0.20, (0.00, 0.25, 1.00)),
    (0.45, (0.00, 0.80, 0.20)),
    (0.70, (1.00, 0.95, 0.00)),
    (0.88, (1.00, 0.45, 0.00)),
    (1.00, (0.85, 0.00, 0.00)),
)


def thermal_rgb(values) -> np.ndarray:
    """Map values in [0, 1] to RGB (``(..., 3)``) by linear interpolation between the stops."""
    v = np.clip(np.asarray(values, dtype=float), 0.0, 1.0)
    pos = np.array([s[0] for s in THERMAL_STOPS])
    rgb = np.array([s[1] for s in THERMAL_STOPS])
    return np.stack([np.interp(v, pos, rgb[:, c]) for c in range(3)], axis=-1)


def thermal_cmap(name: str = "thermal"):
    """The scale as a matplotlib colormap (matplotlib imported lazily)."""
    from matplotlib.colors import LinearSegmentedColormap

    return LinearSegmentedColormap.from_list(name, [(p, c) for p, c in THERMAL_STOPS])
