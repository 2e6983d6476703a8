"""Tiny real models, built once per session: a 1-epoch Tennessee Eastman bi-GRU + attention run (window 10,
faults 1 and 2) and a knn index of the demo set's training split with the hash encoder (no model download)."""

import socket
import threading
import time

import pytest


@pytest.fixture(scope="session")
def process_run(tmp_path_factory):
    from heedful.process.runner import train_run
    from heedful.process.train import TrainConfig

    root = tmp_path_factory.mktemp("process-runs")
    params = {"window": 10, "faults": (0, 1, 2)}
    return train_run(
        "tep_faults", "bigru_attn", params, {"hidden_size": 8}, TrainConfig(epochs=1), root, progress=False
    )


@pytest.fixture(scope="session")
def process_model(process_run):
    from heedful.serve.models import ProcessModel

    return ProcessModel.load(process_run)


@pytest.fixture(scope="session")
def demo_split():
    from heedful.rationale.data.config import DataConfig, load_split

    return load_split(DataConfig(split="train")).samples, load_split(DataConfig(split="dev")).samples


@pytest.fixture(scope="session")
def knn_index(tmp_path_factory, demo_split):
    from heedful.rationale.retrieval.keys import KeyConfig
    from heedful.rationale.retrieval.store import build_index

    return build_index(demo_split[0], KeyConfig(encoder="hash:32"), tmp_path_factory.mktemp("knn") / "index")


@pytest.fixture(scope="session")
def knn_model(knn_index):
    from heedful.serve.models import KnnModel

    return KnnModel(knn_index)


@pytest.fixture(scope="session")
def small_config():
    from heedful.serve import ServeConfig

    return ServeConfig(max_body_bytes=200_000, max_windows=4, max_dialogues=3, max_utterances=12, max_chars=60)


@pytest.fixture(scope="session")
def client(process_model, knn_model, small_config):
    from fastapi.testclient import TestClient

    from heedful.serve.app import create_app

    with TestClient(create_app(small_config, [process_model], knn_model)) as c:
        yield c


class LiveServer:
    """uvicorn on 127.0.0.1 and a free port, in a thread."""

    def __init__(self, app, config=None, **uvicorn_settings):
        """``config``: the ServeConfig the protocol takes its limits from; ``uvicorn_settings`` override them."""
        import uvicorn

        from heedful.serve import ServeConfig
        from heedful.serve.protocol import server_config

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        settings = server_config(app, config or ServeConfig(), port=self.port, **uvicorn_settings)  # as `serve` runs
        self.server = uvicorn.Server(settings)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self):
        self.thread.start()
        deadline = time.time() + 20
        while not self.server.started:
            if time.time() > deadline or not self.thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.05)
        return self

    def __exit__(self, *exc):
        self.server.should_exit = True
        self.thread.join(timeout=10)


@pytest.fixture(scope="session")
def live_server(process_model, knn_model):
    from heedful.serve import ServeConfig
    from heedful.serve.app import create_app

    with LiveServer(create_app(ServeConfig(queue_size=64), [process_model], knn_model)) as server:
        yield server
