"""Shared fixtures: an isolated model home and a tiny random-weight reader artifact."""

from __future__ import annotations

import importlib.util
import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType

import pytest
import torch
from hypothesis import settings

os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
torch.set_num_threads(1)

# CI (`.ci/run`) explores the same Hypothesis examples on every run, so a red CI is reproducible and a
# green one stays green; local runs (`bash scripts/test`) draw new examples each time and find new cases
settings.register_profile("ci", derandomize=True, print_blob=True)


@pytest.fixture
def idsight_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "home"
    monkeypatch.setenv("IDSIGHT_HOME", str(home))
    return home


@pytest.fixture(scope="session")
def random_reader(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A student-sized reader with random weights: exercises plumbing, not accuracy."""
    from idsight.data.charset import CHARSET
    from idsight.models import build_reader, student_arch
    from idsight.ocr.predictor import DEFAULT_PREPROCESSING

    torch.manual_seed(0)
    model = build_reader(student_arch(len(CHARSET) + 1))
    path = tmp_path_factory.mktemp("models") / "random-reader.safetensors"
    meta = {
        "task": "card_reader",
        "role": "student",
        "charset": CHARSET,
        "preprocessing": DEFAULT_PREPROCESSING,
        "metrics": {},
        "provenance": {"command": "tests/conftest.py"},
    }
    return model.to_artifact(path, meta)


@pytest.fixture(scope="module")
def benchmark_script() -> Iterator[Callable[[str], ModuleType]]:
    """Loads a script of benchmarks/ (not a package) by name; its imports of sibling scripts work."""
    bench = Path(__file__).resolve().parents[1] / "benchmarks"
    sys.path.insert(0, str(bench))

    def load(name: str) -> ModuleType:
        spec = importlib.util.spec_from_file_location(f"bench_{name}", bench / f"{name}.py")
        assert spec is not None and spec.loader is not None
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        return mod

    yield load
    sys.path.remove(str(bench))
