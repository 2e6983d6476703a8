"""Simulated Tennessee Eastman runs (tep-studio): determinism, onsets, shutdowns, cache, pools, bad input."""

import json
import shutil
import sys

import numpy as np
import pytest

from heedful.errors import InputError, MissingExtra
from heedful.process.sources import tepsim as ts

pytest.importorskip("tep_studio")


@pytest.fixture(scope="module")
def runs():
    """Same seed: normal and IDV(1) at 0.5 h over 1.5 h; another seed of IDV(1); IDV(6) at 1 h until its trip."""
    return {
        "normal": ts.simulate(ts.RunSpec(0, 7, 1.5)),
        "idv1": ts.simulate(ts.RunSpec(1, 7, 1.5, 0.5)),
        "idv1_other_seed": ts.simulate(ts.RunSpec(1, 8, 1.5, 0.5)),
        "idv6": ts.simulate(ts.RunSpec(6, 7, 10.0, 1.0)),
    }


def test_runs_follow_seed_onset_and_the_52_variables(runs):
    normal, idv1 = runs["normal"], runs["idv1"]
    assert normal.values.shape == (30, 52) and normal.complete and np.isfinite(normal.values).all()
    again = ts.simulate(ts.RunSpec(1, 7, 1.5, 0.5))
    np.testing.assert_array_equal(again.values, idv1.values)  # deterministic per seed
    assert not np.array_equal(runs["idv1_other_seed"].values, idv1.values)
    np.testing.assert_array_equal(idv1.values[:10], normal.values[:10])  # same seed: identical until the onset
    assert not np.array_equal(idv1.values[10], normal.values[10])  # the 3 minutes after 0.5 h already differ
    assert idv1.spec.onset == 10 and idv1.labels.tolist() == [0] * 10 + [1] * 20
    assert normal.labels.sum() == 0 and normal.spec.onset is None and normal.spec.onset_hours == 0.0
    # XMV(5) (compressor recycle valve) and XMV(9) (stripper steam valve) are held constant by this controller
    assert np.ptp(normal.values[:, 41 + 4]) == 0 and np.ptp(normal.values[:, 41 + 8]) == 0


def test_a_plant_shutdown_is_recorded_and_its_samples_are_not_used(runs, tmp_path):
    run = runs["idv6"]
    assert not run.complete and "stripper" in run.shutdown.lower()
    assert 1.0 < run.shutdown_hours < 10.0
    assert len(run.values) == int(run.shutdown_hours / ts.SAMPLE_HOURS) < run.spec.samples
    back = ts.load_run(ts.save_run(run, tmp_path / "r.npz"))
    assert back.shutdown == run.shutdown and back.shutdown_hours == run.shutdown_hours
    np.testing.assert_array_equal(back.values, run.values)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"fault": 21, "seed": 1}, "IDV 1..20"),
        ({"fault": -1, "seed": 1}, "IDV 1..20"),
        ({"fault": 1, "seed": 1, "hours": 2.0, "onset_hours": 2.0}, "not inside the run"),
        ({"fault": 1, "seed": 1, "hours": 2.0, "onset_hours": 5.0}, "not inside the run"),
        ({"fault": 1, "seed": 0}, "seed must lie"),
        ({"fault": 0, "seed": 1, "hours": 0.0}, "at least one 3-minute sample"),
        ({"fault": 0, "seed": 1, "hours": 1.01}, "multiple of 0.05 h"),
    ],
)
def test_bad_run_specs(kwargs, message):
    with pytest.raises(InputError, match=message):
        ts.RunSpec(**kwargs)


@pytest.mark.parametrize(
    ("runs_per_class", "message"), [(0, "must be >= 1"), (-3, "must be >= 1"), (10_001, "at most")]
)
def test_zero_negative_or_too_many_runs(runs_per_class, message):
    with pytest.raises(InputError, match=message):
        ts.run_set([0, 1], runs_per_class, 1.0, 0.5, 1)


def test_run_sets_have_distinct_seeds_and_grow_without_changing_their_runs():
    specs = ts.run_set([0, 1, 2], 3, 1.0, 0.5, 100)
    assert [s.seed for s in specs[:4]] == [100, 101, 102, 10100] and [s.fault for s in specs[:4]] == [0, 0, 0, 1]
    assert len({s.key() for s in specs}) == 9
    more = ts.run_set([0, 1, 2], 5, 1.0, 0.5, 100)
    assert set(specs) < set(more)  # asking for more runs keeps the cached ones
    assert ts.RunSpec(0, 5, 1.0, 0.3).key() == ts.RunSpec(0, 5, 1.0, 0.7).key()  # normal runs ignore the onset


def test_killed_generation_resumes_without_recomputing(tmp_path, monkeypatch):
    specs = ts.run_set([0, 2], 2, 0.5, 0.2, 11)
    real, calls = ts.simulate, []

    def dies_on_second(spec):
        calls.append(spec.seed)
        if len(calls) == 2:
            raise KeyboardInterrupt  # the generation is killed while simulating run 2
        return real(spec)

    monkeypatch.setattr(ts, "simulate", dies_on_second)
    with pytest.raises(KeyboardInterrupt):
        ts.generate(specs, tmp_path, progress=False)
    assert len(list(tmp_path.glob("*.npz"))) == 1 and not list(tmp_path.glob(".*.tmp"))

    calls.clear()
    monkeypatch.setattr(ts, "simulate", lambda spec: calls.append(spec.seed) or real(spec))
    report = ts.generate(specs, tmp_path, progress=False)
    assert calls == [12, 20011, 20012] and report.computed == 3 and len(report.runs) == 4
    again = ts.generate(specs, tmp_path, workers=2, progress=False)  # all cached: no pool is started
    assert again.computed == 0 and len(calls) == 3
    np.testing.assert_array_equal(again.runs[3].values, report.runs[3].values)


def test_process_pool_and_dask_cluster_give_the_serial_runs(tmp_path):
    distributed = pytest.importorskip("distributed")
    specs = ts.run_set([0, 4], 1, 0.5, 0.2, 21)
    serial = ts.generate(specs, tmp_path / "serial", progress=False)
    pool = ts.generate(specs, tmp_path / "pool", workers=2, progress=False)
    with distributed.LocalCluster(
        n_workers=1, threads_per_worker=1, processes=False, protocol="tcp", dashboard_address=None
    ) as cluster:
        assert cluster.scheduler_address.startswith("tcp://")
        dask = ts.generate(specs, tmp_path / "dask", scheduler=cluster.scheduler_address, progress=False)
    local = ts.generate(specs, tmp_path / "local", workers=2, scheduler="local", progress=False)
    assert pool.computed == dask.computed == local.computed == 2
    for a, b, c, d in zip(serial.runs, pool.runs, dask.runs, local.runs, strict=True):
        np.testing.assert_array_equal(a.values, b.values)
        np.testing.assert_array_equal(a.values, c.values)
        np.testing.assert_array_equal(a.values, d.values)


@pytest.mark.parametrize("address", ["tcp://127.0.0.1:9", "no-port-here", "bogus://host:1"])
def test_unreachable_dask_scheduler_is_an_input_error(tmp_path, address):
    pytest.importorskip("distributed")
    with pytest.raises(InputError, match="cannot reach the Dask scheduler"):
        ts.generate(ts.run_set([0], 1, 0.5, 0.2, 1), tmp_path, scheduler=address, progress=False)


def test_missing_simulator_names_the_extra(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "tep_studio", None)  # find_spec then reports it missing
    with pytest.raises(MissingExtra, match=r"pip install 'heedful\[tep\]'"):
        ts.generate(ts.run_set([0], 1, 0.5, 0.2, 1), tmp_path, progress=False)


def test_a_foreign_file_is_an_input_error(tmp_path):
    path = tmp_path / "x.npz"
    np.savez(path, values=np.zeros((2, 52)))
    with pytest.raises(InputError, match="not a heedful TEP run file"):
        ts.load_run(path)


@pytest.mark.parametrize("damage", ["truncated", "empty", "garbage"])
def test_damaged_cache_entry_is_simulated_again(tmp_path, damage):
    specs = ts.run_set([0], 1, 0.5, 0.2, 11)
    first = ts.generate(specs, tmp_path, progress=False)
    (path,) = tmp_path.glob("*.npz")
    data = path.read_bytes()
    path.write_bytes({"truncated": data[: len(data) // 2], "empty": b"", "garbage": b"not a zip file"}[damage])
    with pytest.raises(InputError, match="not a heedful TEP run file"):
        ts.load_run(path)  # one line naming the file, never BadZipFile / EOFError
    again = ts.generate(specs, tmp_path, progress=False)
    assert again.computed == 1
    np.testing.assert_array_equal(again.runs[0].values, first.runs[0].values)


def test_a_cache_of_another_simulator_version_is_refused_and_kept(tmp_path):
    specs = ts.run_set([0], 1, 0.5, 0.2, 11)
    ts.generate(specs, tmp_path, progress=False)
    manifest = json.loads((tmp_path / ts.MANIFEST).read_text())
    assert manifest == {"adapter": ts.ADAPTER_VERSION, "tep_studio": ts.simulator_version()}
    (tmp_path / ts.MANIFEST).write_text(json.dumps({**manifest, "tep_studio": "0.1.0"}))
    with pytest.raises(InputError, match=r"a TEP run cache of tep-studio 0.1.0 \(adapter 1\), this is tep-studio"):
        ts.generate(specs, tmp_path, progress=False)
    assert len(list(tmp_path.glob("*.npz"))) == 1  # nothing lost
    (tmp_path / ts.MANIFEST).write_text("{not json")
    with pytest.raises(InputError, match=r"an unreadable VERSION\.json"):
        ts.generate(specs, tmp_path, progress=False)


def test_runs_the_disk_cannot_hold_are_refused_up_front(tmp_path, monkeypatch):
    specs = ts.run_set([0, 1], 3, 48.0, 8.0, 11)  # 6 runs of 960 samples: about 1.2 MB
    monkeypatch.setattr(ts, "simulate", lambda spec: pytest.fail("simulated despite the refusal"))
    usage = shutil.disk_usage(tmp_path)._replace(free=ts.DISK_RESERVE + 1_000_000)  # 1 MB beyond the reserve
    monkeypatch.setattr(ts.shutil, "disk_usage", lambda path: usage)
    with pytest.raises(InputError, match=r"^6 TEP runs need about 0.00 GB in .*, 1.07 GB free there"):
        ts.generate(specs, tmp_path, progress=False)
    assert ts.run_bytes(specs[0]) == 960 * 52 * 4 + ts.RUN_FILE_OVERHEAD
