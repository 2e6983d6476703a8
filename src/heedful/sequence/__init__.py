"""Sequence models: bi-RNN encoders, task heads, Seq2Seq with attention, and decoding."""

from heedful.sequence.beam import BeamResult, beam_search
from heedful.sequence.decoding import DecodeResult, filter_logits, greedy_decode, sample_decode
from heedful.sequence.encoder import BiRNNEncoder, EncoderOutput
from heedful.sequence.heads import ManyToManyHead, ManyToOneHead, SequenceModel, SequenceOutput
from heedful.sequence.lstm_fcn import LSTMFCN
from heedful.sequence.schedule import TeacherForcingSchedule, mix_inputs
from heedful.sequence.seq2seq import DecoderState, Seq2Seq, Seq2SeqConfig, Seq2SeqOutput

__all__ = [
    "LSTMFCN",
    "BeamResult",
    "BiRNNEncoder",
    "DecodeResult",
    "DecoderState",
    "EncoderOutput",
    "ManyToManyHead",
    "ManyToOneHead",
    "Seq2Seq",
    "Seq2SeqConfig",
    "Seq2SeqOutput",
    "SequenceModel",
    "SequenceOutput",
    "TeacherForcingSchedule",
    "beam_search",
    "filter_logits",
    "greedy_decode",
    "mix_inputs",
    "sample_decode",
]
