#!/usr/bin/env python3
"""detbench external adapter for numpy (protocol detbench.external.v1).

detbench runs `python3 numpy_adapter.py REQUEST.json`. The request names the op, the mode
(variant), the formats, the input .npy files and one output path per run; this script
writes every output and a response.json with its status and per-run times.
See docs/external.md for the protocol.
"""
import platform
import sys
import time

from adapter_protocol import read_request, respond


def cpu_name():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.machine()


def main():
    req = read_request("numpy")
    try:
        import numpy as np
    except ImportError as e:
        # Every call answers unsupported, with the reason, rather than failing.
        return respond(req, status="unsupported", framework="numpy",
                       reason=f"numpy is not importable by {sys.executable}: {e}")
    if req["op"] == "info":
        # ops and deterministic serve `--external "python3 numpy_adapter.py"` (no TOML).
        modes = ["ordered", "permuted"]
        return respond(req, framework="numpy", version=np.__version__,
                       device=cpu_name(), python=platform.python_version(),
                       ops={op: modes for op in ("sum", "dot", "scatter_add", "matmul")},
                       deterministic=["ordered"])

    dtypes = {"f64": np.float64, "f32": np.float32, "f16": np.float16}
    acc, out = req["accumulator"], req["output"]["dtype"]
    if acc not in dtypes or out not in dtypes:
        return respond(req, status="unsupported",
                       reason=f"numpy has no {acc if acc not in dtypes else out} arithmetic")
    acc = dtypes[acc]
    # bf16 inputs arrive as f32 arrays holding bf16 values: exact in f32 arithmetic.
    arrays = {name: np.load(spec["path"]) for name, spec in req["inputs"].items()}
    mode, op = req["variant"], req["op"]
    if mode not in ("ordered", "permuted"):
        return respond(req, status="unsupported", reason=f"no mode {mode!r}")

    def order(n):
        # A fresh permutation from OS entropy for every run of `permuted`.
        if mode == "ordered":
            return None
        return np.random.default_rng().permutation(n)

    def once():
        if op == "sum":
            x = arrays["x"].astype(acc)
            p = order(x.size)
            return np.sum(x if p is None else x[p], dtype=acc)
        if op == "dot":
            x, y = arrays["x"].astype(acc), arrays["y"].astype(acc)
            p = order(x.size)
            if p is not None:
                x, y = x[p], y[p]
            return np.dot(x, y)
        if op == "scatter_add":
            v = arrays["values"].astype(acc)
            ix = arrays["index"]
            p = order(v.size)
            if p is not None:
                v, ix = v[p], ix[p]
            out = np.zeros(req["params"]["bins"], dtype=acc)
            np.add.at(out, ix, v)  # unbuffered, in index order
            return out
        if op == "matmul":
            a, b = arrays["a"].astype(acc), arrays["b"].astype(acc)
            p = order(a.shape[1])  # permuted: the K axis, so each dot adds in a new order
            if p is not None:
                a, b = a[:, p], b[p, :]
            return a @ b
        return None

    times = []
    for path in req["outputs"]:
        t0 = time.perf_counter()
        r = once()
        times.append((time.perf_counter() - t0) * 1e3)
        if r is None:
            return respond(req, status="unsupported", reason=f"numpy adapter has no op {op!r}")
        shape = tuple(req["output"]["shape"])
        np.save(path, np.asarray(r, dtype=dtypes[out]).reshape(shape))
    respond(req, times_ms=times, timer="host")


if __name__ == "__main__":
    main()
