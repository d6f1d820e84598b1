#!/usr/bin/env python3
"""detbench external adapter for JAX (protocol detbench.external.v1).

detbench runs `python3 jax_adapter.py REQUEST.json`; see docs/external.md. The mode is set
through XLA_FLAGS before JAX starts. detbench op -> JAX: sum -> jnp.sum, dot -> jnp.dot,
scatter_add -> .at[index].add, matmul -> jnp.matmul, conv2d_fwd -> lax.conv_general_dilated.
Everything runs under jax.jit; each run's result is fetched before the next starts.
"""
import os
import platform
import sys
import time

from adapter_protocol import read_request, respond


def main():
    req = read_request("jax")
    mode = req.get("variant")
    if mode == "deterministic":
        os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") +
                                   " --xla_gpu_deterministic_ops=true").strip()
    try:
        import numpy as np
        import jax
        jax.config.update("jax_enable_x64", True)
        jax.config.update("jax_default_matmul_precision", "highest")
        import jax.numpy as jnp
    except ImportError as e:
        return respond(req, status="unsupported", framework="jax",
                       reason=f"jax (with numpy) is not importable by {sys.executable}: {e}")
    dev = jax.devices()[0]
    if req["op"] == "info":
        return respond(req, framework="jax", version=jax.__version__,
                       device=getattr(dev, "device_kind", str(dev)), platform=dev.platform,
                       python=platform.python_version())
    if mode not in ("default", "deterministic"):
        return respond(req, status="unsupported", reason=f"no mode {mode!r}")
    dtypes = {"f64": jnp.float64, "f32": jnp.float32, "f16": jnp.float16, "bf16": jnp.bfloat16}
    acc, prec = dtypes[req["accumulator"]], dtypes[req["precision"]]
    out_dtype = dtypes[req["output"]["dtype"]]
    work = prec if prec in (jnp.float16, jnp.bfloat16) and acc == jnp.float32 else acc
    arr = {k: jax.device_put(np.load(v["path"])) for k, v in req["inputs"].items()}
    par, op = req["params"], req["op"]

    if op == "sum":
        f = jax.jit(lambda x: jnp.sum(x.astype(acc), dtype=acc))
        args = (arr["x"],)
    elif op == "dot":
        f = jax.jit(lambda x, y: jnp.dot(x.astype(acc), y.astype(acc)))
        args = (arr["x"], arr["y"])
    elif op == "scatter_add":
        bins = par["bins"]
        f = jax.jit(lambda v, i: jnp.zeros(bins, acc).at[i].add(v.astype(acc)))
        args = (arr["values"], arr["index"])
    elif op == "matmul":
        f = jax.jit(lambda a, b: jnp.matmul(a.astype(work), b.astype(work),
                                            preferred_element_type=acc))
        args = (arr["a"], arr["b"])
    elif op == "conv2d_fwd":
        s, p, d = par["stride"], par["pad"], par["dilation"]
        f = jax.jit(lambda x, w: jax.lax.conv_general_dilated(
            x.astype(work), w.astype(work), (s, s), [(p, p), (p, p)], rhs_dilation=(d, d),
            dimension_numbers=("NCHW", "OIHW", "NCHW"), preferred_element_type=acc))
        args = (arr["x"], arr["w"])
    else:
        return respond(req, status="unsupported", reason=f"jax adapter has no op {op!r}")

    times = []
    shape = tuple(req["output"]["shape"])
    for path in req["outputs"]:
        t0 = time.perf_counter()
        r = f(*args).block_until_ready()
        times.append((time.perf_counter() - t0) * 1e3)
        r = np.asarray(r.astype(out_dtype)).reshape(shape)
        # numpy has no bf16: bf16 values travel as f32 (exact).
        if out_dtype == jnp.bfloat16:
            r = r.astype(np.float32)
        np.save(path, r)
    respond(req, times_ms=times, timer="host")


if __name__ == "__main__":
    main()
