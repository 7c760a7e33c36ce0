"""The CPU a speed figure was measured on, as every JSON line of the speed peers
carries it (the same keys as `ganlab bench --json`: `bench::CpuInfo`)."""


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
            "avx512": "avx512f" in flags, "amx": "amx_tile" in flags}
