#!/usr/bin/env python3
"""Shrink a fuzz corpus to few files: a greedy set cover of the edges.

libFuzzer's -merge=1 keeps every file that adds a feature when taken
smallest first, which leaves thousands of tiny files. This keeps, again
and again, the file that covers the most edges not yet covered (the
smaller on a tie), until every edge any file reaches is covered.

Input (stdin): one line per file, "path edge edge ...", as printed by
tests/fuzz/cover.c linked with the fuzz target:

    find DIRS -type f | ./cover | tests/fuzz/minimize.py OUT_DIR
"""
import heapq
import os
import shutil
import sys


def main():
    out = sys.argv[1]
    files = {}
    for line in sys.stdin:
        parts = line.split()
        if parts:
            files[parts[0]] = frozenset(parts[1:])
    size = {p: os.path.getsize(p) for p in files}
    uncovered = set().union(*files.values()) if files else set()
    total = len(uncovered)
    # Lazy greedy: a file's gain only shrinks, so a popped gain that is
    # still the largest after recounting is the true best.
    heap = [(-len(s), size[p], p) for p, s in files.items()]
    heapq.heapify(heap)
    chosen = []
    while uncovered and heap:
        _, sz, p = heapq.heappop(heap)
        gain = len(files[p] & uncovered)
        if not gain:
            continue
        if heap and (-gain, sz) > heap[0][:2]:
            heapq.heappush(heap, (-gain, sz, p))
            continue
        chosen.append(p)
        uncovered -= files[p]
    os.makedirs(out, exist_ok=True)
    for p in chosen:
        shutil.copy(p, os.path.join(out, os.path.basename(p)))
    print('%d edges, %d files kept, %d bytes'
          % (total, len(chosen), sum(size[p] for p in chosen)))


if __name__ == '__main__':
    main()
