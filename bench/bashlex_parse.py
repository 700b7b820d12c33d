"""The bashlex side of the parse benchmark: parse each line and walk it for commands, as jitsh does."""
import json
import sys
import time

import bashlex


class Commands(bashlex.ast.nodevisitor):
    def __init__(self):
        self.found = 0

    def visitcommand(self, node, parts):
        self.found += 1


def main():
    path = sys.argv[1]
    iterations = int(sys.argv[2]) if len(sys.argv) > 2 else 20
    lines = [l.replace("↵", "\n") for l in open(path, encoding="utf-8").read().split("\n") if l]
    failures = 0
    samples = []
    for iteration in range(iterations + 2):
        for line in lines:
            t0 = time.perf_counter_ns()
            try:
                visitor = Commands()
                for tree in bashlex.parse(line):
                    visitor.visit(tree)
            except Exception:
                if iteration == 0:
                    failures += 1
            t1 = time.perf_counter_ns()
            if iteration >= 2:
                samples.append(t1 - t0)
    samples.sort()

    def pct(p):
        return float(samples[min(len(samples) - 1, int(len(samples) * p))])

    tool = "bashlex %s" % getattr(bashlex, "__version__", "")
    if failures:
        tool += " (%d lines failed)" % failures
    print(json.dumps({"tool": tool.strip(), "benchmark": "parse", "samples": len(samples), "p50_ns": pct(0.5),
                      "p99_ns": pct(0.99), "mean_ns": sum(samples) / len(samples), "max_ns": float(samples[-1])},
                     sort_keys=True))


main()
