"""Face detection and alignment to the 112x112 crop that face recognisers take, with real detectors
that install offline.

* ``dlib`` (``pip install idsight[faces]``): dlib's HOG face detector and its 5-point landmark model
  (``face_recognition_models``): the eye corners give the eye centres, the fifth point is under the
  nose; a similarity transform maps these three points onto the InsightFace 112x112 template.
* ``opencv``: OpenCV's Haar cascades (shipped with ``opencv-python-headless``): the frontal-face
  cascade finds the face, the eye cascade its eyes inside it; with two eyes the crop is rotated and
  scaled so that they land on the template's eye points, otherwise the face box is cropped square with
  the template's margins.

:func:`card_face` finds the card in a photo with the reading pipeline's localiser, rectifies it, and
returns the aligned face of its photo (trying the four orientations).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from idsight.errors import BadImageError

SIZE = 112
# InsightFace's 112x112 template: eye centres and nose tip; the point under the nose (dlib's fifth)
# lies about 4 px below the tip
LEFT_EYE, RIGHT_EYE = (38.29, 51.70), (73.53, 51.50)
UNDER_NOSE = (56.03, 75.5)
BACKENDS = ("dlib", "opencv")
SEVERAL = ("largest", "refuse")  # what to do with an image of several faces


@dataclass
class Face:
    box: tuple[int, int, int, int]  # x0, y0, x1, y1 in image pixels
    score: float
    points: np.ndarray | None  # (3, 2): left eye, right eye (in the image: left, right), under the nose


def _similarity(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    m, _ = cv2.estimateAffinePartial2D(src.astype(np.float32), dst.astype(np.float32), method=cv2.LMEDS)
    if m is None:
        raise BadImageError("cannot align the face (degenerate landmarks)")
    return m


class FaceAligner:
    """``detect(rgb) -> [Face]`` (best first) and ``align(rgb, face) -> (size, size, 3)`` RGB uint8."""

    def __init__(self, backend: str = "dlib", *, size: int = SIZE) -> None:
        if backend not in BACKENDS:
            raise ValueError(f"backend must be one of {', '.join(BACKENDS)}, not {backend!r}")
        self.backend, self.size = backend, size
        if backend == "dlib":
            from idsight.faces.embed import dlib_modules

            dlib, frm = dlib_modules("the dlib face aligner", ", or use the opencv backend")
            self._detector = dlib.get_frontal_face_detector()
            self._landmarks = dlib.shape_predictor(frm.pose_predictor_five_point_model_location())
        else:
            root = cv2.data.haarcascades  # type: ignore[attr-defined]
            self._face = cv2.CascadeClassifier(root + "haarcascade_frontalface_default.xml")
            self._eyes = cv2.CascadeClassifier(root + "haarcascade_eye.xml")

    def detect(self, rgb: np.ndarray) -> list[Face]:
        if self.backend == "dlib":
            return self._detect_dlib(rgb)
        return self._detect_opencv(rgb)

    def _detect_dlib(self, rgb: np.ndarray) -> list[Face]:
        rects, scores, _ = self._detector.run(np.ascontiguousarray(rgb), 1, -0.2)
        faces = []
        for r, s in sorted(zip(rects, scores, strict=True), key=lambda t: -t[1]):
            shape = self._landmarks(rgb, r)
            p = np.array([[shape.part(i).x, shape.part(i).y] for i in range(5)], np.float32)
            # dlib's 5 points: 0-1 one eye's corners, 2-3 the other's, 4 under the nose
            a, b = p[0:2].mean(0), p[2:4].mean(0)
            left, right = (a, b) if a[0] < b[0] else (b, a)
            box = (max(0, r.left()), max(0, r.top()), r.right(), r.bottom())
            faces.append(Face(box, float(s), np.stack([left, right, p[4]])))
        return faces

    def _detect_opencv(self, rgb: np.ndarray) -> list[Face]:
        grey = cv2.equalizeHist(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY))
        found, _, weights = self._face.detectMultiScale3(
            grey, scaleFactor=1.1, minNeighbors=5, minSize=(24, 24), outputRejectLevels=True
        )
        faces = []
        for (x, y, w, h), score in sorted(zip(found, np.ravel(weights), strict=True), key=lambda t: -t[1]):
            upper = grey[y : y + h // 2 + h // 8, x : x + w]
            eyes = self._eyes.detectMultiScale(upper, 1.1, 3, minSize=(max(4, w // 10), max(4, w // 10)))
            points = None
            if len(eyes) >= 2:
                two = sorted(eyes, key=lambda e: -e[2] * e[3])[:2]
                centres = sorted([(x + ex + ew / 2, y + ey + eh / 2) for ex, ey, ew, eh in two])
                if centres[1][0] - centres[0][0] > w / 5:
                    points = np.array(centres, np.float32)
            faces.append(Face((int(x), int(y), int(x + w), int(y + h)), float(score), points))
        return faces

    def align(self, rgb: np.ndarray, face: Face) -> np.ndarray:
        k = self.size / SIZE
        if face.points is not None and len(face.points) == 3:
            dst = np.array([LEFT_EYE, RIGHT_EYE, UNDER_NOSE], np.float32) * k
            m = _similarity(face.points, dst)
        elif face.points is not None:  # two eyes: rotation + scale + shift that puts them in place
            dst = np.array([LEFT_EYE, RIGHT_EYE], np.float32) * k
            m = _similarity(face.points, dst)
        else:  # the box alone: the template's face spans about 70% of the crop's width
            x0, y0, x1, y1 = face.box
            side = (x1 - x0) / 0.7
            cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
            s = self.size / side
            m = np.array([[s, 0, self.size / 2 - s * cx], [0, s, self.size / 2 - s * cy]], np.float32)
        return cv2.warpAffine(
            rgb, m, (self.size, self.size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
        )

    def best(self, rgb: np.ndarray, *, path: object = None, several: str = "largest") -> np.ndarray:
        """The aligned crop of the face; BadImageError naming ``path`` when there is none, or, with
        ``several="refuse"``, when there is more than one (``"largest"`` takes the largest)."""
        if several not in SEVERAL:
            raise ValueError(f"several must be one of {', '.join(SEVERAL)}, not {several!r}")
        faces = self.detect(rgb)
        if not faces:
            raise BadImageError(f"no face found ({self.backend} detector)", path=path)
        if len(faces) > 1 and several == "refuse":
            raise BadImageError(f"{len(faces)} faces found; give an image of one face", path=path)
        largest = max(faces, key=lambda f: (f.box[2] - f.box[0]) * (f.box[3] - f.box[1]))
        return self.align(rgb, largest)


def card_face(rgb: np.ndarray, aligner: FaceAligner, *, path: object = None) -> np.ndarray:
    """The aligned face of the card's photo: the card is found and rectified as the reader does, then
    the face is searched in the four orientations of the rectified card (the most confident wins)."""
    from idsight.ocr.localize import ContourLocalizer, rectify

    loc = ContourLocalizer()(rgb)
    card = rectify(rgb, loc) if loc is not None else rgb
    best: tuple[float, np.ndarray, Face] | None = None
    for k in range(4):
        view = np.ascontiguousarray(np.rot90(card, k))
        # the cascade also fires on print (digits, seals): on a card, only a face with two eyes counts
        found = [f for f in aligner.detect(view) if aligner.backend == "dlib" or f.points is not None]
        for face in found[:1]:
            if best is None or face.score > best[0]:
                best = (face.score, view, face)
    if best is None:
        raise BadImageError(f"no face found on the card ({aligner.backend} detector)", path=path)
    return aligner.align(best[1], best[2])
