#!/usr/bin/env python3
"""Instructions per I/O of transport_bench or hba_bench, split by crate.

Usage: cg_split.py SMALL.out N_SMALL LARGE.out N_LARGE

Both files come from `valgrind --tool=callgrind` runs of transport_bench (or
hba_bench --mode inline --no-lat) with `--warmup 0 --ios N`. Taking the difference of the two runs removes setup
(pool, connect) and teardown, so what remains is (N_LARGE - N_SMALL) I/Os of
steady state.

Each self-cost line of `callgrind_annotate --auto=no` is `Ir file:function`.
With LTO most code is inlined, so the *file* (the source line the instruction
came from, kept by line-tables-only debug info) says which crate wrote it;
standard-library lines (/rustc/...) go to the crate of the function they were
inlined into (the symbol's first ufc_* path; a trait impl `<ufc_emu::X as
ufc_transport::Y>` belongs to ufc_emu, which implements it). Lines of
ufc_transport's wire codecs inlined into a ufc_emu function (the target decoding
a CMD IU) count as emu: the split is "host side vs emulator side".
"""
import re
import subprocess
import sys
from collections import defaultdict

LINE = re.compile(r"^\s*([\d,]+)\s+(?:\([^)]*\)\s+)?(\S.*?):(.*?)(?: \[.*\])?$")


def costs(path):
    out = subprocess.run(
        ["callgrind_annotate", "--auto=no", "--threshold=100", path],
        check=True, capture_output=True, text=True).stdout
    table = defaultdict(int)
    started = False
    for line in out.splitlines():
        if "file:function" in line:
            started = True
            continue
        if not started:
            continue
        m = LINE.match(line)
        if m:
            table[(m.group(2), m.group(3))] += int(m.group(1).replace(",", ""))
    return table


def crate(file, func):
    """Which side executed the instruction: the host transport or the emulator."""
    # The target decodes with ufc_transport's wire codecs: that is emulator work.
    if func.startswith(("ufc_emu::", "<ufc_emu::")):
        return "emu"
    for root, name in (("/emu/src/", "emu"), ("/transport/src/", "transport"),
                       ("/hba/src/", "hba"), ("/vfio/src/", "vfio"),
                       ("/perf/src/", "bench loop")):
        if root in file and not file.startswith("/rustc/"):
            return name
    m = re.search(r"(ufc_transport|ufc_emu|ufc_hba|ufc_vfio|transport_bench|hba_bench|fcperf|ufc_perf)", func)
    if m:
        return {"ufc_transport": "transport", "ufc_emu": "emu", "ufc_hba": "hba",
                "ufc_vfio": "vfio"}.get(m.group(1), "bench loop")
    return "other (libc, std not inlined)"


def callers(path):
    """{callee function: {caller (file, function): inclusive cost}} from --tree=caller."""
    out = subprocess.run(
        ["callgrind_annotate", "--tree=caller", "--threshold=100", path],
        check=True, capture_output=True, text=True).stdout
    tree = defaultdict(dict)
    pending = []
    for line in out.splitlines():
        if not line.strip():
            pending = []
            continue
        head, _, rest = line.partition("(")
        cost = head.strip().replace(",", "")
        if not cost.isdigit():
            continue
        body = rest.partition(")")[2].strip()
        if body.startswith("<"):
            m = re.match(r"<\s+(\S.*?):(.*?)(?: \(\d+x\))?(?: \[.*\])?$", body)
            if m:
                pending.append(((m.group(1), m.group(2)), int(cost)))
        elif body.startswith("*"):
            m = re.match(r"\*\s+(\S.*?):(.*?)(?: \[.*\])?$", body)
            if m:
                for k, c in pending:
                    tree[m.group(2)][k] = tree[m.group(2)].get(k, 0) + c
            pending = []
    return tree


def side(file, func):
    """Driver (ufc_hba, ufc_transport, the driver's DMA writes and doorbells) or
    model (ufc_emu, and ufc_vfio's DMA view and model backend, which the model
    runs on); None when the line itself does not say."""
    if func.startswith(("ufc_emu::", "<ufc_emu::")) or "DmaView" in func \
            or "ufc_vfio::model" in func or "FcpScratch" in func:
        return "model"
    c = crate(file, func)
    if c in ("hba", "transport", "vfio"):
        return "driver"
    if c == "emu":
        return "model"
    if c == "bench loop":
        return "bench loop"
    return None


def sides(a, b, ios, small, large):
    """Driver vs model; library lines (memcpy, malloc, BTreeMap not inlined)
    go to the side of their callers, in proportion to the callers' cost."""
    ta, tb = callers(small), callers(large)
    out = defaultdict(int)
    for key in set(a) | set(b):
        d = b.get(key, 0) - a.get(key, 0)
        s = side(*key)
        if s is None:
            calls = {k: tb.get(key[1], {}).get(k, 0) - ta.get(key[1], {}).get(k, 0)
                     for k in set(ta.get(key[1], {})) | set(tb.get(key[1], {}))}
            calls = {k: v for k, v in calls.items() if v > 0}
            total = sum(calls.values())
            if total == 0:
                out["unattributed"] += d
                continue
            for k, v in calls.items():
                out[side(*k) or "unattributed"] += d * v / total
        else:
            out[s] += d
    print("driver vs model (library lines split by their callers):")
    for name, d in sorted(out.items(), key=lambda kv: -kv[1]):
        print(f"  {name:32} {d / ios:8.1f} per I/O")


def main():
    small, n_small, large, n_large = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
    a, b = costs(small), costs(large)
    ios = n_large - n_small
    split = defaultdict(int)
    top = []
    for key in set(a) | set(b):
        d = b.get(key, 0) - a.get(key, 0)
        split[crate(*key)] += d
        top.append((d, key))
    total = sum(split.values())
    print(f"{ios} I/Os of steady state, {total / ios:.1f} instructions per I/O")
    for name, d in sorted(split.items(), key=lambda kv: -kv[1]):
        print(f"  {name:32} {d / ios:8.1f} per I/O  ({100 * d / total:5.1f} %)")
    sides(a, b, ios, small, large)
    print("top lines (file:function, instructions per I/O):")
    for d, (f, fn) in sorted(top, reverse=True)[:int(sys.argv[5]) if len(sys.argv) > 5 else 15]:
        print(f"  {d / ios:7.1f}  {f}:{fn[:110]}")


if __name__ == "__main__":
    main()
