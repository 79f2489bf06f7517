#!/usr/bin/env python3
"""bench-readme.py: copy the figures of scripts/bench-results.md into README.md.

The README quotes only what `make bench` printed (tests/it/readme_figures.rs checks it):
this rewrites its section `### Figures (...)`, up to the next `## ` heading or the end,
from the results file: its date, commit, load and repetitions, then every figure row with
the spread (`[lowest–highest]`) left out. `scripts/bench.sh` runs it after a full run.

usage: bench-readme.py [RESULTS [README]]
"""
import re
import sys
from pathlib import Path

here = Path(__file__).resolve().parent
results = Path(sys.argv[1]) if len(sys.argv) > 1 else here / "bench-results.md"
readme = Path(sys.argv[2]) if len(sys.argv) > 2 else here.parent / "README.md"

SPREAD = re.compile(r" \[[^\]]*\]")


def meta(text, key):
    m = re.search(rf"^- {re.escape(key)}: (.*)$", text, re.M)
    return m.group(1).strip() if m else "?"


def figures(text):
    """Every figure row of the results, spread removed, and the notes about the lonc."""
    rows, notes = [], []
    for line in text.splitlines():
        if line.startswith("| figure |") or line.startswith("|---"):
            continue
        if line.startswith("| "):
            rows.append(SPREAD.sub("", line))
        elif line.startswith("This lonc has no"):
            notes.append(line)
    return rows, notes


def section(text):
    date = meta(text, "date").split(" (UTC)")[0]
    commit = meta(text, "commit measured").strip("`")
    machine = meta(text, "machine")
    loads = re.findall(r"`([0-9.]+) [0-9.]+ [0-9.]+ [^`]*`", machine)
    reps = meta(text, "repetitions").split(";")[0]
    load = f"load average {loads[0]} before and {loads[1]} after" if len(loads) == 2 else machine
    rows, notes = figures(text)
    out = [
        f"### Figures (`scripts/bench-results.md`, {date} UTC)",
        "",
        f"Copied by `scripts/bench-readme.py` from the run of {date} UTC on commit `{commit}`, "
        f"{machine.split(';')[0]}, {load}: medians of {reps} repetitions (the file has the "
        "spread). Only `make bench` on the same machine compares with them.",
        "",
        "| figure | baseline, same run | measured | ratio | target | |",
        "|---|---|---|---|---|---|",
        *rows,
        "",
    ]
    for n in notes:
        out += [n, ""]
    out += [
        "On this 2-CPU machine the repetitions spread widely (the file shows lowest and",
        "highest); compare a change with the figures of a run on the same machine, not with",
        "this table.",
        "",
    ]
    return "\n".join(out)


def main():
    res = results.read_text()
    text = readme.read_text()
    start = text.find("### Figures (")
    if start < 0:
        sys.exit(f"{readme}: no '### Figures (' section to replace")
    nxt = re.search(r"^## ", text[start:], re.M)
    end = start + nxt.start() if nxt else len(text)
    new = text[:start] + section(res) + ("\n" if nxt else "") + text[end:]
    readme.write_text(new.rstrip("\n") + "\n")
    print(f"bench-readme: {readme} figures from {results} ({meta(res, 'date')})")


if __name__ == "__main__":
    main()
