"""A Segment Statistics plugin that adds VF % (seed 003) to Slicer's Segment Statistics module.

For every segment other than ``VertebralBody`` it reports VF % = CDV / VBV x 100, the
cement inside the body (CDV), the body volume (VBV) and whether VF % reaches the
28.58 % cut-off. The computation is :func:`bonequality.mrml.logic_cement.segment_vf_statistics`
(tested against real MRML); this class only adapts it to Slicer's plugin interface.
Registered by the CementVolume module at start-up (:func:`register`).
"""

import slicer
from SegmentStatisticsPlugins import SegmentStatisticsPluginBase
from slicer.i18n import tr as _

from bonequality.errors import BoneQualityError
from bonequality.mrml.logic_cement import VF_STATISTICS, segment_vf_statistics


class CementVolumeSegmentStatisticsPlugin(SegmentStatisticsPluginBase):
    """VF % of each segment against the ``VertebralBody`` segment."""

    def __init__(self):
        super().__init__()
        self.name = "Cement VF"
        self.title = _("Cement VF")
        self.keys = list(VF_STATISTICS)
        self.defaultKeys = list(VF_STATISTICS)

    def computeStatistics(self, segmentID):
        requested = self.getRequestedKeys()
        if not requested:
            return {}
        node = slicer.mrmlScene.GetNodeByID(self.getParameterNode().GetParameter("Segmentation"))
        try:
            stats = segment_vf_statistics(node, segmentID)
        except BoneQualityError:  # no VertebralBody segment, or an empty one: nothing to report
            return {}
        return {key: value for key, value in stats.items() if key in requested}

    def getMeasurementInfo(self, key):
        if key not in VF_STATISTICS:
            return None
        name, units = VF_STATISTICS[key]
        return self.createMeasurementInfo(name=name, title=name, description=name, units=units)


def register() -> None:
    """Add the plugin to Segment Statistics (Slicer registers each plugin class once)."""
    try:
        from SegmentStatistics import SegmentStatisticsLogic
    except ImportError:  # Segment Statistics module not loaded
        return
    SegmentStatisticsLogic.registerPlugin(CementVolumeSegmentStatisticsPlugin())  # ignored if already there
