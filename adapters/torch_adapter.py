#!/usr/bin/env python3
"""detbench external adapter for PyTorch (protocol detbench.external.v1).

detbench runs `python3 torch_adapter.py REQUEST.json`; see docs/external.md. Each call is
a fresh process, so a mode (`default` or `deterministic`) is set once, before any op runs.
detbench op -> PyTorch: sum -> torch.sum(x, dtype=acc), dot -> torch.dot,
scatter_add -> Tensor.index_add_ (dim 0), matmul -> torch.mm, conv2d_fwd ->
F.conv2d, conv2d_bwd_data / conv2d_bwd_weight -> torch.nn.grad.conv2d_input / _weight.
"""
import os
import platform
import sys
import time

from adapter_protocol import read_request, respond


def main():
    req = read_request("torch")
    mode = req.get("variant")
    if mode == "deterministic":
        # cuBLAS is deterministic only with a fixed workspace; it must be set before CUDA starts.
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    try:
        import numpy as np
        import torch
    except ImportError as e:
        return respond(req, status="unsupported", framework="torch",
                       reason=f"torch (with numpy) is not importable by {sys.executable}: {e}")
    want = os.environ.get("DETBENCH_TORCH_DEVICE", "cuda")
    if want == "cuda" and not torch.cuda.is_available():
        return respond(req, status="unsupported", framework="torch", version=torch.__version__,
                       reason="torch sees no CUDA GPU (set DETBENCH_TORCH_DEVICE=cpu to run on the CPU)")
    dev = torch.device(want)
    name = torch.cuda.get_device_name(dev) if dev.type == "cuda" else platform.processor() or "cpu"
    # f32 means f32: TF32 would change the numbers detbench judges against f32 bounds.
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    if req["op"] == "info":
        return respond(req, framework="torch", version=torch.__version__, device=name,
                       cuda=torch.version.cuda, cudnn=torch.backends.cudnn.version(),
                       tf32=False, python=platform.python_version())
    if mode == "deterministic":
        torch.use_deterministic_algorithms(True)
        torch.backends.cudnn.deterministic = True
        torch.backends.cudnn.benchmark = False
    elif mode != "default":
        return respond(req, status="unsupported", reason=f"no mode {mode!r}")

    dtypes = {"f64": torch.float64, "f32": torch.float32, "f16": torch.float16,
              "bf16": torch.bfloat16}
    acc = dtypes[req["accumulator"]]
    out_dtype = dtypes[req["output"]["dtype"]]
    # Inputs arrive as .npy (bf16 values as f32: exact); they move to the device once.
    arr = {k: torch.from_numpy(np.load(v["path"])).to(dev) for k, v in req["inputs"].items()}
    op = req["op"]

    # Half inputs with an f32 accumulator run in their own format (PyTorch accumulates
    # half matmuls and convolutions in f32); otherwise in the accumulator's format.
    prec = dtypes[req["precision"]]
    half = (torch.float16, torch.bfloat16)
    work = prec if prec in half and acc == torch.float32 else acc
    par = req["params"]

    def conv_args():
        return dict(stride=par.get("stride", 1), padding=par.get("pad", 0),
                    dilation=par.get("dilation", 1))

    def once():
        if op == "matmul":
            return torch.mm(arr["a"].to(work), arr["b"].to(work))
        if op == "conv2d_fwd":
            return torch.nn.functional.conv2d(arr["x"].to(work), arr["w"].to(work), **conv_args())
        if op == "conv2d_bwd_data":
            size = (par["n"], par["c"], par["h"], par["w"])
            return torch.nn.grad.conv2d_input(size, arr["w"].to(work), arr["dy"].to(work),
                                              **conv_args())
        if op == "conv2d_bwd_weight":
            size = (par["k"], par["c"], par["r"], par["s"])
            return torch.nn.grad.conv2d_weight(arr["x"].to(work), size, arr["dy"].to(work),
                                               **conv_args())
        if op == "sum":
            return torch.sum(arr["x"].to(acc), dtype=acc)
        if op == "dot":
            return torch.dot(arr["x"].to(acc), arr["y"].to(acc))
        if op == "scatter_add":
            out = torch.zeros(req["params"]["bins"], dtype=acc, device=dev)
            return out.index_add_(0, arr["index"], arr["values"].to(acc))
        return None

    times = []
    shape = tuple(req["output"]["shape"])
    for path in req["outputs"]:
        try:
            if dev.type == "cuda":
                start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
                start.record()
                r = once()
                end.record()
                torch.cuda.synchronize()
                t = start.elapsed_time(end)
            else:
                t0 = time.perf_counter()
                r = once()
                t = (time.perf_counter() - t0) * 1e3
        except RuntimeError as e:
            # e.g. no deterministic implementation of this op on this device.
            return respond(req, status="unsupported", reason=str(e).splitlines()[0])
        if r is None:
            return respond(req, status="unsupported", reason=f"torch adapter has no op {op!r}")
        times.append(t)
        r = r.to(out_dtype).reshape(shape).cpu()
        # numpy has no bf16: bf16 values travel as f32 (exact).
        a = r.float().numpy() if out_dtype == torch.bfloat16 else r.numpy()
        np.save(path, a)
    respond(req, times_ms=times, timer="cuda_events" if dev.type == "cuda" else "host")


if __name__ == "__main__":
    main()
