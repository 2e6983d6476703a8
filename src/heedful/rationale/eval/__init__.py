"""Character-level METEOR, ROUGE-L, BLEU-4 and BERTScore, and scoring a predictions file."""

from heedful.rationale.eval.metrics import bertscore, corpus_bleu, meteor, rouge_l, text_metrics
from heedful.rationale.eval.score import EvalConfig, evaluate

__all__ = ["EvalConfig", "bertscore", "corpus_bleu", "evaluate", "meteor", "rouge_l", "text_metrics"]
