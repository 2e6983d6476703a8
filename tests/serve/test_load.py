"""A small version of benchmarks/serve_load.py against uvicorn on loopback: no 5xx, every answer equals the
direct library call for the same input. Bounded by a number of requests, each body sent twice, not by a time:
the time limit is only a guard far above what the requests take (throughput is the benchmark's business)."""

from heedful.serve.loadcheck import compare_process, compare_rationale, knn_bodies, process_bodies, run_load


def test_load_check_process(live_server, process_model):
    bodies, expected = process_bodies(process_model, n=8, per_request=2)
    result = run_load(
        live_server.url + "/v1/process/predict",
        bodies,
        clients=4,
        seconds=300,
        max_requests=2 * len(bodies),
        expected=expected,
        compare=lambda a, e: compare_process(a, e, process_model),
    )
    assert result.requests == 2 * len(bodies) == 16, result.summary()
    assert result.server_errors == 0 and result.transport_errors == 0, result.summary()
    assert set(result.by_status) == {200} and result.mismatches == [], result.summary()
    assert len(result.latencies) == 16 and "requests/s" in result.summary()


def test_load_check_knn(live_server, knn_index, demo_split):
    bodies, expected = knn_bodies(knn_index, demo_split[1])
    result = run_load(
        live_server.url + "/v1/rationale",
        bodies,
        clients=4,
        seconds=300,
        max_requests=2 * len(bodies),
        expected=expected,
        compare=compare_rationale,
    )
    assert result.requests == 2 * len(bodies) > 0, result.summary()
    assert result.server_errors == 0 and result.transport_errors == 0, result.summary()
    assert set(result.by_status) == {200} and result.mismatches == [], result.summary()


def test_load_check_targets_loopback_only():
    import pytest

    from heedful.errors import InputError

    with pytest.raises(InputError, match="loopback"):
        run_load("http://192.0.2.1:8000/health", [{}], seconds=0.1)
