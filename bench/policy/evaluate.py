#!/usr/bin/env python3
"""Precision and recall of `fabrique policy scan` on a labelled corpus (see corpus.py).

Feeds every line's `text` (or `texts`) to `fabrique policy scan`, compares the spans it reports
with the line's labels, and prints per type: labelled spans, reported spans, exact matches (same
start, end and type), precision (matches / reported) and recall (matches / labelled). With
--show N, lists up to N misses and N false alarms per type.

Usage: evaluate.py CORPUS [--fabrique PATH] [--show N]
"""

import argparse
import collections
import json
import subprocess
import sys


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("corpus")
    parser.add_argument("--fabrique", default="target/release/fabrique")
    parser.add_argument("--show", type=int, default=0)
    args = parser.parse_args()

    lines = [json.loads(line) for line in open(args.corpus, encoding="utf-8") if line.strip()]
    requests = "".join(
        json.dumps({k: line[k] for k in ("text", "texts") if k in line}, ensure_ascii=False) + "\n"
        for line in lines)
    scan = subprocess.run([args.fabrique, "policy", "scan"], input=requests.encode(),
                          capture_output=True, check=True)
    answers = [json.loads(a) for a in scan.stdout.decode().splitlines()]
    if len(answers) != len(lines):
        sys.exit(f"{len(lines)} lines sent, {len(answers)} answered")

    labelled, reported, matched = (collections.Counter() for _ in range(3))
    misses, alarms = collections.defaultdict(list), collections.defaultdict(list)
    errors = 0
    for line, answer in zip(lines, answers):
        # A binary that cannot read a line (an older one, without `texts`) found nothing in it.
        errors += "error" in answer
        text = line.get("text") or "".join(line["texts"])
        raw = text.encode()
        expected = {(s, e, t) for s, e, t in line["labels"]}
        found = {(s["start"], s["end"], s["type"]) for s in answer.get("spans", [])}
        for span in expected:
            labelled[span[2]] += 1
        for span in found:
            reported[span[2]] += 1
        for span in expected & found:
            matched[span[2]] += 1
        for s, e, t in expected - found:
            misses[t].append((raw[s:e].decode(errors="replace"), text))
        for s, e, t in found - expected:
            alarms[t].append((raw[s:e].decode(errors="replace"), text))

    kinds = sorted(set(labelled) | set(reported))
    print(f"{len(lines)} lines, {sum(1 for l in lines if not l['labels'])} without personal data, "
          f"{sum(1 for l in lines if 'texts' in l)} in two parts"
          + (f", {errors} not read by this binary" if errors else "") + "\n")
    print("| type | labelled | reported | correct | precision | recall |")
    print("|---|---:|---:|---:|---:|---:|")
    for kind in kinds + ["all"]:
        if kind == "all":
            l, r, m = (sum(c.values()) for c in (labelled, reported, matched))
        else:
            l, r, m = labelled[kind], reported[kind], matched[kind]
        precision = m / r if r else 1.0
        recall = m / l if l else 1.0
        print(f"| {kind} | {l} | {r} | {m} | {precision:.4f} | {recall:.4f} |")
    if args.show:
        for kind in kinds:
            for title, items in (("missed", misses[kind]), ("false alarm", alarms[kind])):
                for value, text in items[:args.show]:
                    print(f"{kind} {title}: {value!r} in {text!r}")


if __name__ == "__main__":
    main()
