"""benchmarks/quantize.py: float32 is the reader unchanged; int8 graphs are really quantised and still read."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="module")
def q(benchmark_script):
    return benchmark_script("quantize")


def test_unknown_variant_is_refused(q) -> None:
    with pytest.raises(SystemExit) as e:
        q.parse_args(["--variants", "float32,int4"])
    assert e.value.code == 2


def test_an_unknown_model_is_one_error_line(q, tmp_path: Path, capsys) -> None:
    missing = tmp_path / "nope.safetensors"
    assert q.main(["--model", str(missing), "--count", "1", "--cache-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("error: ") and "nope.safetensors" in err[-1]
    assert "Traceback" not in "\n".join(err)


def test_capture_sees_every_network_and_restores_the_reader(q, tmp_path: Path) -> None:
    from idsight.data.io import load_image
    from idsight.data.synth import write_cards
    from idsight.ocr.predictor import CardReader

    write_cards("td1", 1, tmp_path, photo=True, seed=9501)
    (image_path,) = sorted(tmp_path.glob("*.jpg")) + sorted(tmp_path.glob("*.png"))
    image = load_image(image_path)
    reader = CardReader.load("default", runtime="onnx")
    before = {p: getattr(reader.nets, p) for p in q.PARTS}
    seen = q.capture_inputs(reader, [image])
    assert {p: getattr(reader.nets, p) for p in q.PARTS} == before
    assert reader.localizer.net is reader.nets.localizer
    for part in q.PARTS:
        assert seen[part], part
        assert all(x.ndim == 4 and x.shape[1] == 3 for x in seen[part])
    assert seen["recognizer"][0].shape[2] == 32  # line crops at the recogniser's height

    # a reader given the float32 sessions reads exactly as the plain onnxruntime reader
    from idsight.export import onnx_bytes
    from idsight.models.reader import ReaderModel

    model, _ = ReaderModel.from_artifact(_default_path())
    graphs = {p: onnx_bytes(getattr(model, p), p) for p in q.PARTS}
    sessions = q.sessions(graphs, 1)
    swapped = q.reader_with(CardReader.load("default", runtime="onnx"), sessions)
    assert all(getattr(swapped.model, p) is sessions[p] for p in q.PARTS)
    assert swapped.localizer.net is swapped.nets.localizer  # the localiser runs the new session too
    assert swapped.read(image).fields == reader.read(image).fields


def _default_path() -> Path:
    from idsight import hub

    return hub.resolve("default")


def test_run_measures_each_variant_against_float32(q, tmp_path: Path) -> None:
    args = q.parse_args(
        ["--templates", "td1", "--count", "2", "--calib-count", "2", "--cache-dir", str(tmp_path)]
    )
    res = q.run(args)
    nets = res["networks"]
    assert set(nets) == set(q.VARIANTS)
    for part in q.PARTS:
        assert nets["float32"]["per_network"][part]["max_abs_diff"] == 0.0  # the reader's own graphs
        # int8 weights: every quantised graph is smaller than its float32 export
        assert nets["int8_static"]["graph_bytes"][part] < nets["float32"]["graph_bytes"][part]
        assert nets["int8_dynamic"]["graph_bytes"][part] < nets["float32"]["graph_bytes"][part]
        assert nets["int8_static"]["per_network"][part]["median_ms"] > 0
    # quantised, not identical, and still close: the recogniser keeps most of its character choices
    rec = nets["int8_static"]["per_network"]["recognizer"]
    assert rec["max_abs_diff"] > 0
    assert rec["argmax_agreement"] > 0.9
    for v in q.VARIANTS:
        assert res["cards"][v]["cards"] == 2
        assert res["cards"][v]["latency_ms"]["n"] + res["cards"][v]["rejected"] == 2
