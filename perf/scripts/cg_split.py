#!/usr/bin/env python3
"""Instructions per I/O of transport_bench, split by crate.

Usage: cg_split.py SMALL.out N_SMALL LARGE.out N_LARGE

Both files come from `valgrind --tool=callgrind` runs of transport_bench with
`--warmup 0 --ios N`. Taking the difference of the two runs removes setup
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
                       ("/vfio/src/", "vfio"), ("/perf/src/", "bench loop")):
        if root in file and not file.startswith("/rustc/"):
            return name
    m = re.search(r"(ufc_transport|ufc_emu|ufc_vfio|transport_bench|fcperf|ufc_perf)", func)
    if m:
        return {"ufc_transport": "transport", "ufc_emu": "emu", "ufc_vfio": "vfio"}.get(
            m.group(1), "bench loop")
    return "other (libc, std not inlined)"


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
    print("top lines (file:function, instructions per I/O):")
    for d, (f, fn) in sorted(top, reverse=True)[:15]:
        print(f"  {d / ios:7.1f}  {f}:{fn[:110]}")


if __name__ == "__main__":
    main()
