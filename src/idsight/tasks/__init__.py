"""idsight.tasks: what a model learns, as callable objects (the loss lives in the task).

``task = TASKS.build(name, **cfg)``; ``out = task(model, batch)`` returns ``{"loss": scalar, "preds": ...}``
plus named component losses, so the training loop stays generic. ``model`` may be the sub-network or
a whole :class:`idsight.models.reader.ReaderModel` (the task picks its part).

Registered: ``ctc_recognition``, ``line_detection``, ``template_classification``, ``distillation``
(a frozen teacher + one of the others), ``contour_detection``, ``classification``,
``vis_ir_identity``.
"""

from idsight.tasks.classification import TemplateClassification
from idsight.tasks.contour import ContourDetection
from idsight.tasks.detection import LineDetection
from idsight.tasks.distill import Distillation
from idsight.tasks.faces import VisIRIdentity
from idsight.tasks.recognition import CTCRecognition

__all__ = [
    "CTCRecognition",
    "ContourDetection",
    "Distillation",
    "LineDetection",
    "TemplateClassification",
    "VisIRIdentity",
]
