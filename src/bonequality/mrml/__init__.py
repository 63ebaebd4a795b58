"""Slicer adapters: MRML nodes <-> :mod:`bonequality` objects.

Every module here imports Slicer's MRML classes (``slicer``, ``vtk``) and never ``qt``,
so the same code runs inside the Slicer application and against the ``slicer-core``
PyPI package in tests. ``import bonequality`` does not import this package.

Modules
-------
scene
    A standalone :class:`vtkMRMLScene` with the module logics registered (headless use, tests).
volumes
    :class:`~bonequality.volume.Volume` <-> scalar / label map volume nodes.
markups
    :class:`~bonequality.landmarks.Landmarks` <-> markups fiducial nodes (guided placement), line nodes.
segmentations
    Label map or segmentation nodes <-> boolean masks on a reference grid.
tables
    :class:`pandas.DataFrame` <-> ``vtkMRMLTableNode``.
plots
    Profiles -> table, plot series and plot chart nodes.
colors
    The "thermal" colour table node and colour overlays.

RAS <-> LPS conversion is done only by :mod:`bonequality.frames`.
"""
