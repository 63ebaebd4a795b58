"""The corridor profile plot as a PNG data URL (matplotlib, no display)."""

from __future__ import annotations

import base64
import io

__all__ = ["profile_png"]


def profile_png(result) -> str:
    """HU against % of probe length for S1 and S2 with the seed 000 cohort means (dashed).

    Parameters
    ----------
    result : bonequality.corridors.CorridorResult

    Returns
    -------
    str
        ``data:image/png;base64,...``
    """
    from matplotlib.figure import Figure

    from ..corridors import REFERENCE_COHORT
    from ..mrml.logic_sacral import GROUPS

    fig = Figure(figsize=(4.2, 2.4), dpi=80)
    ax = fig.add_subplot()
    for probe, color in ((result.s1, "tab:red"), (result.s2, "tab:blue")):
        ax.plot(probe.percent, probe.profile_hu, color=color, lw=1.2, label=probe.corridor)
        for group, style in zip(GROUPS, ("--", ":")):
            ax.axhline(
                REFERENCE_COHORT[group][f"{probe.corridor}_corridor"][1], color=color, ls=style, lw=0.7
            )
    ax.axhline(result.bone_threshold_hu, color="grey", lw=0.6)
    ax.set_xlabel("% of probe length (0 = patient left)", fontsize=7)
    ax.set_ylabel("HU", fontsize=7)
    ax.tick_params(labelsize=6)
    ax.legend(fontsize=6, loc="upper right")
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")
