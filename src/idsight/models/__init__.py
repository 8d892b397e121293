"""idsight.models: the networks (registered in :data:`idsight.registry.MODELS`) and their post-processing.

Importing this package registers ``crnn_teacher``, ``crnn_student``, ``unet_teacher``, ``unet_student``,
``tplcls_small``, the contour networks ``contour_net``, ``contour_small`` and ``hed_vgg16``, and the
contour-fused classifier ``contour_fused`` and the visible + infrared face network ``vis_ir_facenet``.
"""

from idsight.models import classifier, contour, detector, faces, fused, recognizer  # noqa: F401  (registers the builders)
from idsight.models.reader import ReaderModel, build_reader, count_parameters, student_arch, teacher_arch

__all__ = ["ReaderModel", "build_reader", "count_parameters", "student_arch", "teacher_arch"]
