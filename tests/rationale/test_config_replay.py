"""``--config`` on the rationale commands: a run's config.json replays it; a flag still wins."""

from heedful.cli import main


def test_a_data_run_replays_its_split(tmp_path, capsys):
    assert main(["rationale", "data", "--split", "train", "--dev-fraction", "0.3", "--out", str(tmp_path / "a")]) == 0
    (run,) = (tmp_path / "a").iterdir()
    capsys.readouterr()
    argv = ["rationale", "data", "--config", str(run / "config.json"), "--out", str(tmp_path / "b")]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert 'split:        "train"  # file' in out and "dev_fraction: 0.3  # file" in out
    (again,) = (tmp_path / "b").iterdir()
    assert (again / "samples.json").read_text() == (run / "samples.json").read_text()


def test_an_index_option_in_a_yaml_file(tmp_path, capsys):
    cfg = tmp_path / "index.yaml"
    cfg.write_text(f"encoder: hash:16\ncache_dir: {tmp_path / 'cache'}\nkey: text\n", encoding="utf-8")
    assert main(["rationale", "index", "--config", str(cfg), "--out", str(tmp_path / "i")]) == 0
    assert "indexed" in capsys.readouterr().out and (tmp_path / "cache" / "hash-16").is_dir()


def test_the_feature_cache_defaults_to_the_heedful_cache_root(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("HEEDFUL_CACHE", str(tmp_path / "root"))
    monkeypatch.chdir(tmp_path)
    assert main(["rationale", "index", "--encoder", "hash:8", "--out", str(tmp_path / "i")]) == 0
    assert (tmp_path / "root" / "features" / "hash-8").is_dir() and not (tmp_path / ".cache").exists()
