"""Memory bounds: work that cannot fit is refused before anything is allocated.

Two limits, both checked *before* the allocation they guard, each raising
:class:`~bonequality.errors.MemoryLimitError` (exit code 2 from the CLI) with a message
that names the input, the GB needed and the GB allowed:

* **Reading an image.** Its header is read first (no voxels); the image is read only if
  :func:`image_bytes` - the voxels twice (the reader's buffer and the numpy array) plus
  one float32 working copy, which resampling and the analyses make - fits in the memory
  available now (``MemAvailable`` of ``/proc/meminfo``, else the physical memory).
* **Heavy steps** on a region of interest (distance transforms, hole filling, closings,
  resampling a mask to a fine working grid): their peak, estimated from the region's
  size, must stay within :func:`budget_bytes`, the smaller of :data:`MEMORY_BUDGET`
  (4 GiB; the environment variable ``BONEQUALITY_MEMORY_BUDGET_GB`` overrides it) and
  90 % of the memory available. A vertebra or a sacrum at 0.5 mm needs well under
  0.5 GB; only a wrong or huge input comes near the budget.
"""

from __future__ import annotations

import math
import os
import re

from .errors import MemoryLimitError

__all__ = [
    "MEMORY_BUDGET",
    "available_bytes",
    "budget_bytes",
    "check_fits",
    "check_image_fits",
    "gb",
    "image_bytes",
]

#: Default peak (bytes) of one heavy step on a region of interest.
MEMORY_BUDGET = 4 * 2**30

#: Environment variable that overrides :data:`MEMORY_BUDGET` (a number of GB).
BUDGET_ENV = "BONEQUALITY_MEMORY_BUDGET_GB"

#: Share of the available memory one heavy step may use.
AVAILABLE_SHARE = 0.9


def gb(nbytes: float) -> str:
    """``nbytes`` as a short GB string (``"15.8 GB"``)."""
    return f"{nbytes / 1e9:.3g} GB"


def available_bytes() -> int | None:
    """Memory available to a new allocation now (bytes), or None when it cannot be told.

    ``MemAvailable`` of ``/proc/meminfo`` (Linux), else free physical pages
    (``os.sysconf``), else None.
    """
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return int(os.sysconf("SC_AVPHYS_PAGES")) * int(os.sysconf("SC_PAGE_SIZE"))
    except (AttributeError, ValueError, OSError):
        return None


def budget_bytes() -> int:
    """The peak allowed for one heavy step: :data:`MEMORY_BUDGET` (or the environment's), at most
    :data:`AVAILABLE_SHARE` of the memory available."""
    budget = MEMORY_BUDGET
    text = os.environ.get(BUDGET_ENV)
    if text:
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        if math.isfinite(value) and value > 0:
            budget = int(value * 1e9)
    avail = available_bytes()
    if avail is not None:
        budget = min(budget, int(AVAILABLE_SHARE * avail))
    return budget


def check_fits(nbytes: float, what: str, *, fix: str = "crop the input to the structure") -> None:
    """Raise :class:`MemoryLimitError` if a step needing ``nbytes`` exceeds :func:`budget_bytes`.

    Parameters
    ----------
    nbytes : float
        Estimated peak of the step, bytes.
    what : str
        The step and its input, as the message says them ("hole filling of body mask.nrrd").
    fix : str
        What the user can do.
    """
    budget = budget_bytes()
    if nbytes > budget:
        raise MemoryLimitError(
            f"{what} would need about {gb(nbytes)} of memory, above the budget of {gb(budget)} "
            f"(the smaller of {gb(MEMORY_BUDGET)}, or ${BUDGET_ENV}, and {AVAILABLE_SHARE:.0%} of the "
            f"memory available); {fix}."
        )


#: Bytes of one float32 working copy per voxel (resampling, the analyses' float images).
_FLOAT32 = 4


def bytes_per_component(pixel_type: str) -> int:
    """Bytes of one voxel component from SimpleITK's pixel-type description.

    ``"16-bit signed integer"`` -> 2, ``"vector of 32-bit float"`` -> 4; 8 when unknown.
    """
    m = re.search(r"(\d+)-bit", pixel_type)
    return int(m.group(1)) // 8 if m else 8


def image_bytes(n_voxels: int, bytes_per_voxel: int) -> int:
    """Peak memory (bytes) of reading an image and working on it (module docstring)."""
    return int(n_voxels) * (2 * int(bytes_per_voxel) + _FLOAT32)


def check_image_fits(label: str, size, bytes_per_voxel: int) -> None:
    """Refuse an image whose declared ``size`` (voxels per axis) cannot be read into memory.

    Raises
    ------
    MemoryLimitError
        Naming ``label``, the declared size, the GB needed and the GB available.
    """
    n = math.prod(int(s) for s in size)
    need = image_bytes(n, bytes_per_voxel)
    avail = available_bytes()
    if avail is not None and need > avail:
        dims = " x ".join(str(int(s)) for s in size)
        raise MemoryLimitError(
            f"{label}: its header declares {dims} voxels of {bytes_per_voxel} bytes, which need about "
            f"{gb(need)} of memory to read and analyse, but only {gb(avail)} is available; crop or "
            "downsample the image (or check its header), or use a machine with more memory."
        )
