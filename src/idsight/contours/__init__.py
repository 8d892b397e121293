"""Multi-level contour extraction: the trained extractor as a one-file artifact and its contour maps
(``extractor``), and a BSDS-style ODS/OIS evaluator (``evaluate``). The network is
``idsight.models.contour``, its loss ``idsight.tasks.contour``, its data ``idsight.data.contours``."""
