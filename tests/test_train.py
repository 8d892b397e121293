"""The generic training engine: configs, LitTask, DataModule, fit (single process, CPU)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import lightning as L
import pytest
import torch
import yaml

from idsight.artifact import load_artifact, save_artifact
from idsight.errors import BadConfigError
from idsight.registry import DATASETS
from idsight.train.config import TrainConfig, config_from_dict, load_config
from idsight.train.data import DataModule
from idsight.train.engine import fit
from idsight.train.lit import LitTask, export_weights
from idsight.train.toy import MSETask, ToyRegression

REPO = Path(__file__).resolve().parents[1]
torch.set_num_threads(1)


def toy_cfg(tmp_path: Path, **over: Any) -> dict[str, Any]:
    d: dict[str, Any] = {
        "model": {"name": "toy_mlp", "kwargs": {"dim": 4, "hidden": 8}},
        "task": {"name": "toy_mse"},
        "data": {
            "name": "toy_regression",
            "kwargs": {"dim": 4, "noise": 0.01},
            "train": {"n": 128, "seed": 0},
            "val": {"n": 32, "seed": 1},
            "batch_size": 16,
        },
        "optim": {"name": "adamw", "lr": 0.02},
        "trainer": {"max_epochs": 6, "log_every_n_steps": 4},
        "plateau": {"monitor": "val/loss", "patience": 10},
        "out_dir": str(tmp_path / "run"),
    }
    for k, v in over.items():
        d[k] = {**d[k], **v} if isinstance(v, dict) else v
    return d


class EpochLosses(L.Callback):
    def __init__(self) -> None:
        self.losses: list[float] = []

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.losses.append(float(trainer.callback_metrics["train/loss_epoch"]))


# ---------------------------------------------------------------- configs


def test_example_config_loads_with_overrides() -> None:
    cfg = load_config(
        REPO / "configs" / "toy.yaml", ["optim.lr=3e-4", "trainer.max_epochs=2", "data.val=null"]
    )
    assert isinstance(cfg, TrainConfig)
    assert cfg.optim.lr == pytest.approx(3e-4) and isinstance(cfg.optim.lr, float)
    assert cfg.trainer.max_epochs == 2 and cfg.data.val is None
    assert cfg.model.name == "toy_mlp" and cfg.plateau.monitor == "val/loss"
    res = cfg.resolved()
    assert res["optim"]["lr"] == pytest.approx(3e-4) and res["trainer"]["precision"] == "32-true"
    yaml.safe_dump(res)  # plain data only


def test_yaml_exponent_floats_and_kwargs_overrides(tmp_path: Path) -> None:
    p = tmp_path / "c.yaml"
    d = toy_cfg(tmp_path)
    p.write_text(yaml.safe_dump(d) + "\n", encoding="utf-8")
    p.write_text(p.read_text().replace("lr: 0.02", "lr: 1e-3"))
    cfg = load_config(p, ["model.kwargs.hidden=32", "data.kwargs.noise=1e-2", "task.kwargs.extra.deep=x"])
    assert cfg.optim.lr == pytest.approx(1e-3)
    assert cfg.model.kwargs["hidden"] == 32
    assert cfg.data.kwargs["noise"] == pytest.approx(0.01) and isinstance(cfg.data.kwargs["noise"], float)
    assert cfg.task.kwargs == {"extra": {"deep": "x"}}


@pytest.mark.parametrize(
    "overrides, needle",
    [
        (["optim.lrr=0.1"], "optim.lrr: unknown key"),
        (["bogus=1"], "bogus: unknown key"),
        (["optim.name=rmsprop"], "optim.name"),
        (["trainer.max_epochs=many"], "trainer.max_epochs"),
        (["optim.lr"], "not of the form"),
        (["out_dir.x=1"], "out_dir is not a section"),
    ],
)
def test_bad_config_errors_name_the_file(tmp_path: Path, overrides: list[str], needle: str) -> None:
    p = tmp_path / "bad.yaml"
    p.write_text(yaml.safe_dump(toy_cfg(tmp_path)), encoding="utf-8")
    with pytest.raises(BadConfigError) as ei:
        load_config(p, overrides)
    msg = str(ei.value)
    assert msg.startswith(str(p) + ": ") and needle in msg and "\n" not in msg, msg


def test_unknown_key_in_file_and_unreadable_files(tmp_path: Path) -> None:
    d = toy_cfg(tmp_path)
    d["trainer"]["max_epoch"] = 3
    p = tmp_path / "typo.yaml"
    p.write_text(yaml.safe_dump(d), encoding="utf-8")
    with pytest.raises(BadConfigError, match=r"typo\.yaml: invalid config: trainer\.max_epoch: unknown key"):
        load_config(p)
    (tmp_path / "broken.yaml").write_text("model: [unclosed\n", encoding="utf-8")
    with pytest.raises(BadConfigError, match=r"broken\.yaml: not valid YAML"):
        load_config(tmp_path / "broken.yaml")
    (tmp_path / "list.yaml").write_text("- 1\n", encoding="utf-8")
    with pytest.raises(BadConfigError, match="mapping"):
        load_config(tmp_path / "list.yaml")
    with pytest.raises(BadConfigError, match="no such config file"):
        load_config(tmp_path / "missing.yaml")


# ---------------------------------------------------------------- data


def test_toy_dataset_is_a_pure_function_of_seed_and_index() -> None:
    a, b = ToyRegression(n=16, seed=3), ToyRegression(n=100, seed=3)
    for i in (0, 7, 15):
        torch.testing.assert_close(a[i]["x"], b[i]["x"])
        torch.testing.assert_close(a[i]["y"], b[i]["y"])
    assert not torch.equal(a[0]["x"], ToyRegression(n=16, seed=4)[0]["x"])
    assert "toy_regression" in DATASETS


def test_datamodule_uses_dataset_collate(tmp_path: Path) -> None:
    class WithCollate(ToyRegression):
        def collate(self, items: list[dict[str, torch.Tensor]]) -> dict[str, Any]:
            return {
                "x": torch.stack([it["x"] for it in items]),
                "y": torch.stack([it["y"] for it in items]),
                "tag": 1,
            }

    cfg = config_from_dict(toy_cfg(tmp_path, data={"shuffle": False}))
    dm = DataModule(cfg.data)
    dm.setup("fit")
    batch = next(iter(dm.train_dataloader()))
    assert set(batch) == {"x", "y", "index"} and batch["index"].tolist() == list(range(16))
    dm.train_set = WithCollate(n=8, dim=4)
    assert next(iter(dm.train_dataloader()))["tag"] == 1


# ---------------------------------------------------------------- fit


def test_fit_loss_falls_and_checkpoints_are_written(tmp_path: Path) -> None:
    cfg = config_from_dict(toy_cfg(tmp_path))
    rec = EpochLosses()
    res = fit(cfg, callbacks=[rec])
    assert res.epochs_run == 6 and not res.stopped_early and len(rec.losses) == 6
    assert rec.losses[-1] < 0.3 * rec.losses[0], rec.losses
    assert {"train/loss", "val/loss", "val/mae"} <= set(res.metrics)
    assert res.best_path and Path(res.best_path).is_file() and "best-" in Path(res.best_path).name
    assert res.last_path and Path(res.last_path).name == "last.ckpt" and Path(res.last_path).is_file()
    ck = torch.load(res.best_path, map_location="cpu", weights_only=False)
    assert ck["hyper_parameters"]["config"] == cfg.resolved()
    # export: the inner model's weights, round-tripped through the artifact format
    assert res.module is not None
    state = export_weights(res.module)
    assert set(state) == {"0.weight", "0.bias", "2.weight", "2.bias"}
    art = save_artifact(tmp_path / "m.safetensors", state, {"config": cfg.resolved()}, dtype="float32")
    loaded, meta = load_artifact(art)
    torch.testing.assert_close(loaded["0.weight"], state["0.weight"])
    assert meta["config"]["optim"]["lr"] == pytest.approx(0.02)


@pytest.mark.parametrize("check_every, expected_epochs", [(1, 3), (2, 6)])
def test_plateau_stops_early_on_flat_metric(tmp_path: Path, check_every: int, expected_epochs: int) -> None:
    # lr=0: val/loss is exactly flat, so the plateau rule must fire after `patience` non-improving checks
    d = toy_cfg(
        tmp_path,
        optim={"lr": 0.0},
        trainer={"max_epochs": 30, "limit_train_batches": 2},
        plateau={"patience": 2, "min_delta": 1e-4, "check_every": check_every},
    )
    res = fit(config_from_dict(d))
    assert res.stopped_early
    assert res.epochs_run == expected_epochs < 30


def test_plateau_on_train_metric_without_validation(tmp_path: Path) -> None:
    d = toy_cfg(
        tmp_path,
        data={"val": None},
        optim={"name": "sgd", "lr": 0.05, "scheduler": "cosine", "warmup": 3},
        trainer={"max_epochs": 3},
        plateau={"monitor": "train/loss", "patience": 5},
    )
    res = fit(config_from_dict(d), model=torch.nn.Linear(4, 1), task=MSETask())
    assert res.epochs_run == 3 and not any(k.startswith("val/") for k in res.metrics)
    assert res.best_path and Path(res.best_path).is_file()


def test_val_monitor_without_val_data_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(BadConfigError, match="no validation data"):
        fit(config_from_dict(toy_cfg(tmp_path, data={"val": None})))


def test_onecycle_and_max_steps(tmp_path: Path) -> None:
    d = toy_cfg(
        tmp_path,
        optim={"scheduler": "onecycle", "warmup": 2, "weight_decay": 0.01},
        trainer={"max_steps": 5, "max_epochs": 10, "limit_val_batches": 1},
        plateau={"enabled": False},
    )
    res = fit(config_from_dict(d))
    assert res.global_step == 5 and not res.stopped_early
    assert res.best_path == res.last_path and Path(res.last_path or "").is_file()


def test_lit_task_logs_every_scalar(tmp_path: Path) -> None:
    def task(model: torch.nn.Module, batch: dict[str, torch.Tensor]) -> dict[str, Any]:
        preds = model(batch["x"])
        loss = torch.nn.functional.mse_loss(preds, batch["y"])
        return {"loss": loss, "preds": preds, "acc": 0.5, "vec": torch.zeros(3), "flag": True}

    d = toy_cfg(tmp_path, trainer={"max_epochs": 1}, plateau={"enabled": False})
    res = fit(config_from_dict(d), model=torch.nn.Linear(4, 1), task=task)
    assert res.metrics["train/acc"] == pytest.approx(0.5) and res.metrics["val/acc"] == pytest.approx(0.5)
    assert not any(k.endswith(("preds", "vec", "flag")) for k in res.metrics)
    assert isinstance(res.module, LitTask)
