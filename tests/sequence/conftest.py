import pytest
import torch

from heedful.sequence import Seq2Seq, Seq2SeqConfig

ATTENTIONS = [None, "bahdanau", "luong_dot", "luong_general", "luong_concat"]


def token_model(attention="bahdanau", cell="lstm", seed=0, **kw) -> Seq2Seq:
    torch.manual_seed(seed)
    cfg = Seq2SeqConfig(src_vocab=11, tgt_vocab=11, attention=attention, cell=cell, hidden_size=16, embed_dim=8, **kw)
    return Seq2Seq(cfg).eval()


@pytest.fixture
def batch():
    g = torch.Generator().manual_seed(3)
    src = torch.randint(3, 11, (5, 8), generator=g)
    lengths = torch.tensor([8, 3, 6, 1, 5])
    src = src.masked_fill(torch.arange(8) >= lengths[:, None], 0)
    return src, lengths
