"""Graph rewrites that make an exported ONNX encoder smaller and faster, in place on an ``onnx.ModelProto``.

``quantise_matmuls``: every ``MatMul(x, W)`` with a constant 2-D weight becomes an 8-bit integer product. ``W`` is
stored as int8 with one scale per output column; ``x`` is quantised at run time with one scale per token (per row of
its last axis), ``s = max|x| / 127``, and shifted by 128 into uint8 (zero point 128), the form ONNX Runtime's integer
kernels are fastest with. So ``y = (MatMulInteger(round(x / s) + 128, Wq, 128)) * s * w_scale``. A per-token scale
depends on that token only, so a text's vector does not change with the texts batched beside it.

``quantise_matmuls_4bit``: the same products as ONNX Runtime's ``MatMulNBits`` (4-bit weight blocks, 8-bit
activation blocks), written by its own quantiser.

``word_table_float16``: large embedding tables read by ``Gather`` are stored in float16 and cast back after the
lookup (the row read is converted, not the table).
"""

from __future__ import annotations

import numpy as np

BIG_TABLE = 1 << 20  # values: the word table (tens of millions), not the position or type tables


def _consumers(graph, name: str) -> list:
    return [n for n in graph.node if name in n.input]


def _quantise_tokens(x: str, p: str) -> list:
    """Nodes that turn activation ``x`` into uint8 codes ``p + "xq"`` with one scale ``p + "s"`` per token."""
    from onnx import TensorProto, helper

    return [
        helper.make_node("Abs", [x], [p + "abs"]),
        helper.make_node("ReduceMax", [p + "abs", "q_axes"], [p + "max"], keepdims=1),  # (..., 1)
        helper.make_node("Max", [p + "max", "q_tiny"], [p + "maxc"]),  # an all-zero token stays zero
        helper.make_node("Div", [p + "maxc", "q_127"], [p + "s"]),
        helper.make_node("Div", [x, p + "s"], [p + "xs"]),
        helper.make_node("Round", [p + "xs"], [p + "xr"]),
        helper.make_node("Add", [p + "xr", "q_128"], [p + "xu"]),
        helper.make_node("Cast", [p + "xu"], [p + "xq"], to=TensorProto.UINT8),
    ]


def quantise_matmuls(model) -> int:
    """Rewrite the weight products of ``model`` (see the module docstring); returns how many were rewritten."""
    from onnx import TensorProto, helper, numpy_helper

    graph = model.graph
    weights = {i.name: i for i in graph.initializer if len(i.dims) == 2 and i.data_type == TensorProto.FLOAT}
    shared = {
        "q_axes": np.array([-1], np.int64),
        "q_tiny": np.array(1e-12, np.float32),
        "q_127": np.array(127.0, np.float32),
        "q_128": np.array(128.0, np.float32),
        "q_zero": np.array(128, np.uint8),
    }
    added = [numpy_helper.from_array(v, k) for k, v in shared.items()]
    nodes, rewritten, dropped = [], 0, set()
    quantised: dict[str, tuple[str, str]] = {}  # activation -> (uint8 codes, per-token scales): Q, K and V share one
    for node in graph.node:
        w_name = node.input[1] if node.op_type == "MatMul" else None
        if w_name not in weights or len(_consumers(graph, w_name)) != 1:
            nodes.append(node)
            continue
        w = numpy_helper.to_array(weights[w_name]).astype(np.float32)  # (K, N)
        w_scale = (np.maximum(np.abs(w).max(0), 1e-12) / 127.0).astype(np.float32)  # (N,)
        w_q = np.clip(np.round(w / w_scale), -127, 127).astype(np.int8)  # (K, N)
        p = f"q{rewritten}_"
        added += [numpy_helper.from_array(w_q, p + "w"), numpy_helper.from_array(w_scale, p + "ws")]
        x, y = node.input[0], node.output[0]
        if x not in quantised:
            nodes += _quantise_tokens(x, p)
            quantised[x] = (p + "xq", p + "s")
        x_q, x_scale = quantised[x]
        nodes += [
            helper.make_node("MatMulInteger", [x_q, p + "w", "q_zero"], [p + "y32"]),
            helper.make_node("Cast", [p + "y32"], [p + "yf"], to=TensorProto.FLOAT),
            helper.make_node("Mul", [p + "yf", x_scale], [p + "y1"]),
            helper.make_node("Mul", [p + "y1", p + "ws"], [y]),
        ]
        dropped.add(w_name)
        rewritten += 1
    keep = [i for i in graph.initializer if i.name not in dropped]
    del graph.initializer[:]
    graph.initializer.extend(keep + (added if rewritten else []))
    del graph.node[:]
    graph.node.extend(nodes)
    return rewritten


def quantise_matmuls_4bit(model, block: int = 32):
    """Every weight product as ONNX Runtime's ``MatMulNBits``: 4-bit weights in blocks of ``block`` along the input
    with one scale each (symmetric), and at run time 8-bit activations per block of ``block`` features
    (``accuracy_level`` 4). That is the packaged engine's own arithmetic (Q4_0 weights, Q8_0 activations); weights
    that are 4-bit codes already come back exactly. Returns the new model."""
    from onnxruntime.quantization.matmul_nbits_quantizer import MatMulNBitsQuantizer

    quantiser = MatMulNBitsQuantizer(
        model,
        bits=4,
        block_size=block,
        is_symmetric=True,
        accuracy_level=4,
        op_types_to_quantize=("MatMul",),
        quant_axes=(("MatMul", 0),),
    )
    quantiser.process()
    return quantiser.model.model


def word_table_float16(model) -> int:
    """Store float32 tables of more than ``BIG_TABLE`` values that only ``Gather`` reads in float16; returns how
    many were converted."""
    from onnx import TensorProto, helper, numpy_helper

    graph = model.graph
    converted = 0
    for init in list(graph.initializer):
        users = _consumers(graph, init.name)
        big = init.data_type == TensorProto.FLOAT and int(np.prod(init.dims)) > BIG_TABLE
        if not big or not users or any(n.op_type != "Gather" or n.input[0] != init.name for n in users):
            continue
        init.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(init).astype(np.float16), init.name))
        for n in users:
            out = n.output[0]
            n.output[0] = out + "_f16"
            cast = helper.make_node("Cast", [out + "_f16"], [out], to=TensorProto.FLOAT)
            graph.node.insert(list(graph.node).index(n) + 1, cast)
        converted += 1
    return converted
