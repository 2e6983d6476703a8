from heedful.rationale import clip_split, load_samples
from heedful.rationale.data.split import assign_clips, select_split

from ..conftest import dialogue


def flat(sample_id, lines):
    s = dialogue(lines, sample_id=sample_id)
    from dataclasses import replace

    return replace(s, clip_id=None)


def test_prefix_samples_share_a_clip_and_stock_replies_do_not_chain():
    a = [("A", ["Neutral"], "我们谈谈。"), ("B", ["Neutral"], "嗯。"), ("A", ["Anger"], "你又迟到了！")]
    b = [("A", ["Neutral"], "天气真好。"), ("B", ["Neutral"], "嗯。"), ("A", ["Happy"], "出去走走吧。")]
    samples = [flat("a1", a[:2]), flat("b1", b), flat("a2", a)]
    clips = [s.clip_id for s in assign_clips(samples)]
    assert clips[0] == clips[2] != clips[1]  # a1 ⊂ a2 share a line pair; the shared "嗯。" alone links nothing


def test_clip_split_is_disjoint_and_deterministic():
    samples = [
        flat(f"c{i}-{j}", [("A", ["Neutral"], f"第{i}段"), ("B", ["Sad"], f"回答{i}")][: 1 + j % 2])
        for i in range(20)
        for j in range(2)
    ]
    train, dev = clip_split(samples, 0.25, seed=1)
    assert {s.clip_id for s in train}.isdisjoint({s.clip_id for s in dev})
    assert len(train) + len(dev) == len(samples) and 0.15 * len(samples) <= len(dev) <= 0.4 * len(samples)
    assert [s.sample_id for s in clip_split(samples, 0.25, seed=1)[1]] == [s.sample_id for s in dev]
    assert len(select_split(samples, "all")) == len(samples)


def test_research_split_is_clip_disjoint(mecr):
    samples = load_samples(mecr / "train.json").samples
    train, dev = clip_split(samples, 0.2, seed=0)
    assert {s.clip_id for s in train}.isdisjoint({s.clip_id for s in dev})
    train_lines = {(u.speaker, u.text) for s in train for u in s.utterances if len(u.text) > 12}
    dev_lines = {(u.speaker, u.text) for s in dev for u in s.utterances if len(u.text) > 12}
    assert len(train_lines & dev_lines) <= 5  # long utterances (clip-specific) essentially never cross the split
    assert 0.17 < len(dev) / len(samples) < 0.23
