"""``rationale train --config RUN/config.json``: a train run's nested record comes back as the flags it was given."""

from heedful.cli import build_parser
from heedful.cli.configfile import apply_config

from .test_lm_cli import cli, lm_dir  # noqa: F401 - the fixture


def test_a_train_run_replays_its_flags(tmp_path, capsys, lm_dir):  # noqa: F811
    flags = ["--lm", str(lm_dir), "--mode", "both", "--max-train", "4", "--epochs", "1", "--batch-size", "2",
             "--max-dev", "2", "--max-tokens", "1500", "--lora-r", "4", "--layers", "1,2", "--gate-init", "0.01",
             "--encoder", "hash:16", "--cache-dir", str(tmp_path / "cache"), "--dev-fraction", "0.3"]  # fmt: skip
    code, _, err = cli(capsys, "rationale", "train", *flags, "--out", str(tmp_path / "t"))
    assert code == 0, err
    (run,) = (tmp_path / "t").iterdir()
    argv = ["rationale", "train", "--config", str(run / "config.json"), "--epochs", "2"]
    parser = build_parser()
    args = parser.parse_args(argv)
    apply_config(parser, args, argv)
    assert (args.lora_r, args.layers, args.gate_init, args.mode, args.max_tokens) == (4, (1, 2), 0.01, "both", 1500)
    assert (args.encoder, args.dev_fraction, args.max_train, args.batch_size, args.epochs) == ("hash:16", 0.3, 4, 2, 2)
    assert args.lm == str(lm_dir) and args.index is None  # the run's own index is built again
