"""The pensimpy adapter: stub import, backward recipe, our fast ODE against pensimpy's, faults, cache and resume."""

import numpy as np
import pytest

from heedful.process.sources import indpensim as ip


def test_pensimpy_imports_without_fastodeint():
    ip._env_class()
    import pensimpy.peni_env_setup as setup

    assert setup.PenSimEnv is not None
    with pytest.raises(RuntimeError, match="fast=False"):
        setup.fastodeint.integrate()


def test_recipe_values_hold_until_their_time():
    recipe = ip.BackwardRecipe(ip.default_profiles())
    # FS_DEFAULT_PROFILE starts (3 h, 8), (12 h, 15), ...: 8 L/h up to and including 3 h, then 15
    assert recipe.value("Fs", 0.2) == 8 and recipe.value("Fs", 3.0) == 8 and recipe.value("Fs", 3.2) == 15
    assert recipe.value("Fs", 229.8) == 80 and recipe.value("Fs", 400) == 80  # last value held
    scaled = ip.BackwardRecipe(ip.default_profiles(), {"Fs": 1.2}, time_scale=2.0)
    assert scaled.value("Fs", 6.0) == pytest.approx(9.6) and scaled.value("Fs", 6.2) == pytest.approx(18)


def test_fast_rhs_equals_pensimpy_rhs_on_real_states(monkeypatch):
    import pensimpy.peni_env_setup as setup
    from pensimpy.ode.indpensim_ode_py import indpensim_ode_py

    from heedful.process.sources._indpensim_ode import rhs

    ip._env_class()
    calls, inner = [], setup.odeint
    monkeypatch.setattr(
        setup,
        "odeint",
        lambda f, y0, t, tfirst, args: calls.append((y0, args[0], t[0])) or inner(f, y0, t, tfirst, args),
    )
    ip.simulate(ip.BatchSpec(seed=3, steps=30, solver="reference"))
    assert len(calls) == 30
    for y0, par, t in calls[::5]:
        y = np.asarray(y0, dtype=float)
        np.testing.assert_allclose(rhs(t + 0.1, y, par), indpensim_ode_py(t + 0.1, y.copy(), par), rtol=1e-9)


def test_fast_solver_reproduces_the_reference_batch():
    spec = ip.BatchSpec(seed=5, steps=40, sugar_scale=1.1)
    fast, ref = ip.simulate(spec), ip.simulate(ip.BatchSpec(**{**spec.__dict__, "solver": "reference"}))
    np.testing.assert_allclose(fast.values, ref.values, rtol=1e-4, atol=1e-6)


def test_batches_are_deterministic_per_seed_and_plausible():
    a, b = ip.simulate(ip.BatchSpec(seed=1, steps=25)), ip.simulate(ip.BatchSpec(seed=1, steps=25))
    c = ip.simulate(ip.BatchSpec(seed=51, steps=25))
    np.testing.assert_array_equal(a.values, b.values)
    assert not np.allclose(a.values, c.values)
    assert a.values.shape == (25, len(ip.CHANNELS)) and np.isfinite(a.values).all()
    assert 6.0 < a.channel("ph").mean() < 7.0 and 290 < a.channel("temperature").mean() < 305
    assert a.channel("volume").min() > 50000  # the forward-fill recipe bug drains the vessel


@pytest.mark.parametrize(("fault", "channel", "value"), [(3, "sugar_feed", 20.0), (1, "aeration", 20.0)])
def test_actuator_faults_start_at_the_chosen_onset(fault, channel, value):
    batch = ip.simulate(ip.BatchSpec(seed=9, steps=30, fault=fault, fault_onset=12))
    assert (batch.fault[:12] == 0).all() and (batch.fault[12:] == fault).all()
    assert (batch.channel(channel)[12:] == value).all() and (batch.channel(channel)[:12] != value).all()


def test_sensor_fault_lasts_to_the_end_and_phases_follow_the_recipe():
    spec = ip.BatchSpec(seed=9, steps=30, fault=7, fault_onset=20)
    assert spec.fault_active().sum() == 10
    phase = ip.phase_labels(ip.BatchSpec(seed=1, steps=ip.FULL_STEPS))
    hours = ip.STEP_HOURS * np.arange(1, ip.FULL_STEPS + 1)
    assert (phase[hours <= 24] == 0).all() and (phase[(hours > 24) & (hours <= 100)] == 1).all()
    assert phase[504] == 2 and phase[514] == 1  # 101 h: broth drawn off (100-102 h); 103 h: fed-batch again


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"steps": 1}, "steps must lie"),
        ({"sugar_scale": 2.0}, "sugar_scale"),
        ({"fault": 9}, "fault must be one of"),
        ({"fault": 2, "fault_onset": 0}, "fault_onset"),
        ({"solver": "rk4"}, "solver"),
    ],
)
def test_bad_specs(kwargs, message):
    with pytest.raises(ValueError, match=message):
        ip.BatchSpec(seed=1, **kwargs)


def test_generation_config_is_reproducible_and_validated():
    cfg = ip.GenerationConfig(batches=20, fault_fraction=0.5, min_hours=20, max_hours=40, temperature_programmes=True)
    specs = ip.specs(cfg)
    assert specs == ip.specs(cfg) and len({s.key() for s in specs}) == 20
    assert [s.seed for s in specs[:3]] == [1000, 1050, 1100]
    assert all(100 <= s.steps <= 200 for s in specs) and any(s.fault for s in specs)
    assert all(0.7 <= s.sugar_scale <= 1.3 for s in specs)
    with pytest.raises(ValueError, match="seed_stride must be >= 50"):
        ip.GenerationConfig(seed_stride=10)


def test_killed_generation_resumes_without_recomputing(tmp_path, monkeypatch):
    cfg = ip.GenerationConfig(batches=3, min_hours=2, max_hours=2.4)
    real, calls = ip.simulate, []

    def dies_on_second(spec):
        calls.append(spec.seed)
        if len(calls) == 2:
            raise KeyboardInterrupt  # the generation is killed while simulating batch 2
        return real(spec)

    monkeypatch.setattr(ip, "simulate", dies_on_second)
    with pytest.raises(KeyboardInterrupt):
        ip.generate(ip.specs(cfg), tmp_path, progress=False)
    assert len(list(tmp_path.glob("*.npz"))) == 1 and not list(tmp_path.glob(".*.tmp"))

    calls.clear()
    monkeypatch.setattr(ip, "simulate", lambda spec: calls.append(spec.seed) or real(spec))
    report = ip.generate(ip.specs(cfg), tmp_path, progress=False)
    assert calls == [1050, 1100] and report.computed == 2 and len(report.batches) == 3
    again = ip.generate(ip.specs(cfg), tmp_path, progress=False)
    assert again.computed == 0 and calls == [1050, 1100]
    np.testing.assert_array_equal(again.batches[0].values, report.batches[0].values)


def test_parallel_generation_matches_serial(tmp_path):
    cfg = ip.GenerationConfig(batches=2, min_hours=2, max_hours=2)
    parallel = ip.generate(ip.specs(cfg), tmp_path / "p", workers=2, progress=False)
    serial = ip.generate(ip.specs(cfg), tmp_path / "s", workers=1, progress=False)
    assert parallel.computed == 2
    for a, b in zip(parallel.batches, serial.batches, strict=True):
        np.testing.assert_array_equal(a.values, b.values)


def test_cached_batch_with_nan_names_channel_and_rows(tmp_path):
    batch = ip.simulate(ip.BatchSpec(seed=1, steps=12))
    batch.values[[3, 7], ip.CHANNELS.index("ph")] = np.nan
    path = ip.save_batch(batch, tmp_path / "b.npz")
    with pytest.raises(ValueError, match=r"channel 'ph' at rows 3, 7"):
        ip.load_batch(path)
    (tmp_path / "junk.npz").write_bytes(b"junk")
    with pytest.raises(ValueError, match="not a heedful IndPenSim batch"):
        ip.load_batch(tmp_path / "junk.npz")
