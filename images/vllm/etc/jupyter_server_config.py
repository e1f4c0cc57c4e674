"""jupyter-server-proxy entry: `vllm serve` on the port the proxy picks, for the model the
session's form chose (AIPORTAL_FIELD_MODEL), on the GPUs the spawner gave the container.
Served at /vllm/ of the session's server: /vllm/v1/chat/completions, /vllm/v1/models."""

import os

c = get_config()  # noqa: F821  (provided by Jupyter)
home = os.environ.get("HOME", "/tmp")
c.ServerProxy.servers = {
    "vllm": {
        "command": ["/opt/vllm/bin/vllm", "serve", os.environ.get("AIPORTAL_FIELD_MODEL", ""),
                    "--host", "127.0.0.1", "--port", "{port}",
                    "--max-model-len", os.environ.get("AIPORTAL_FIELD_MAX_MODEL_LEN", "8192"),
                    "--download-dir", os.path.join(home, "models")],
        "environment": {"HF_HOME": os.path.join(home, ".cache", "huggingface")},
        "timeout": 600,  # loading weights onto the GPU takes minutes
        "launcher_entry": {"title": "vLLM endpoint"},
        "absolute_url": False,
    },
}
