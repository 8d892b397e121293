"""idsight: train, distill and serve lightweight recognition models for identity verification."""

import os as _os

# Keep third-party libraries off the network at run time (see README, "Offline").
_os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")
_os.environ.setdefault("HF_HUB_OFFLINE", "1")

__version__ = "0.1.0"

# The model that reads when none is named (``idsight read``, the service): the layout-free student.
DEFAULT_READER = "idsight-reader-open-student"
