"""The CPU a speed figure was measured on, as every JSON line of the speed peers
carries it (the same keys as `ganlab bench --json`: `cpu::CpuInfo`), and the
timing and JSON row the peers share."""


def cpu_info(path="/proc/cpuinfo"):
    try:
        text = open(path).read()
    except OSError:
        text = ""
    fields = {}
    for line in text.splitlines():
        if not line.strip():
            break  # the first processor's entries
        k, _, v = line.partition(":")
        fields.setdefault(k.strip(), v.strip())
    flags = fields.get("flags", "").split()
    return {"cpu_model": fields.get("model name", "unknown"), "cpu_vendor": fields.get("vendor_id", "unknown"),
            "avx512": "avx512f" in flags, "amx": "amx_tile" in flags,
            "cpu_family_model": f"{fields.get('cpu family', 'unknown')}/{fields.get('model', 'unknown')}",
            "cpu_cache": fields.get("cache size", "unknown")}


def timed(run, iters, warmup):
    """Milliseconds of each timed call of `run()` after `warmup` untimed ones."""
    import time

    ts = []
    for i in range(warmup + iters):
        s = time.perf_counter()
        run()
        if i >= warmup:
            ts.append((time.perf_counter() - s) * 1e3)
    return ts


def result_row(spec, framework, threads, ts, peak, gflop):
    """One JSON row of a speed peer, with the keys of `ganlab bench --json`."""
    import resource
    import statistics

    med = statistics.median(ts)
    return {"spec": spec, "framework": framework, "threads": threads,
            "median_ms": med, "min_ms": min(ts), "max_ms": max(ts), "gflop_per_iter": gflop,
            "gflops": gflop / (med / 1e3), "peak_gflops": peak, "pct_of_peak": 100 * gflop / (med / 1e3) / peak,
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, **cpu_info()}
