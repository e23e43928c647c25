# ruff: noqa: E402  (the tree under test goes on sys.path before discofilter is imported)
"""In-process pump A/B: the same JSON pod events through one tree's WatchPump (with the
proxy's telemetry: churn meter, decision sampler, Prometheus counters).

    python hack/pump_ab.py TREE [RUNS]      # e.g. /tmp/base (git archive main) and .

Prints the best CPU time per event over RUNS (default 5). No sockets, so a loaded machine
disturbs it far less than bench/micro_proxy.py; run the two trees alternately and compare.
Understands the pump before issue 14 (server/watch_stream.py) and after (server/streams/).
"""

import asyncio
import sys
import time

import orjson

tree = sys.argv[1]
sys.path.insert(0, tree)
from discofilter.codec import JsonWatchDecoder
from discofilter.metrics import Metrics

try:
    from discofilter.server.streams.pump import StreamTelemetry, WatchPump
    from discofilter.server.streams.registry import StreamRegistry, WatchStream
    from discofilter.telemetry.churn import ChurnMeter
    from discofilter.telemetry.decisions import DecisionSampler

    NEW = True
except ImportError:
    from discofilter.admin.churn import ChurnMeter
    from discofilter.admin.decisions import DecisionSampler
    from discofilter.server.watch_stream import WatchPump

    from discofilter.server.streams import StreamHooks, WatchStream

    NEW = False

PAD = "x" * 6000


def line(i):
    ns = "mesh" if i % 2 else "other"
    obj = {
        "kind": "Pod",
        "apiVersion": "v1",
        "metadata": {
            "name": f"p{i}",
            "namespace": ns,
            "resourceVersion": str(i + 1),
            "uid": f"u{i}",
            "annotations": {"pad": PAD},
        },
    }
    return orjson.dumps({"type": "MODIFIED", "object": obj}) + b"\n"


N = 40000
data = b"".join(line(i) for i in range(N))
CH = 100 * 1024
chunks = [data[i : i + CH] for i in range(0, len(data), CH)]


class Body:
    def __init__(self):
        self.c = list(reversed(chunks))

    async def read_chunk(self):
        return self.c.pop() if self.c else b""

    async def readany(self):
        return self.c.pop() if self.c else b""

    def close(self):
        pass

    @property
    def content(self):
        return self


class Client:
    async def write(self, d):
        pass


async def once():
    def enrolled(ns: str) -> bool:
        return ns == "mesh"

    m = Metrics()
    churn, sampler = ChurnMeter(), DecisionSampler()
    s = WatchStream("pods", content_type="application/json")
    if NEW:
        reg = StreamRegistry(m)
        flt = s.watch_filter(enrolled, count_churn=True, sample_every=sampler.every)
        p = WatchPump(
            s,
            Body(),
            Client(),
            JsonWatchDecoder(),
            flt,
            sink=reg.totals,
            telemetry=StreamTelemetry(churn, sampler),
        )
    else:
        p = WatchPump(
            s,
            Body(),
            Client(),
            JsonWatchDecoder(),
            enrolled,
            hooks=StreamHooks(metrics=m.for_kind("pods"), churn=churn, sampler=sampler),
        )
    t = time.process_time()
    await p.run()
    dt = time.process_time() - t
    assert s.events_in == N, s.events_in
    return dt


best = min(asyncio.run(once()) for _ in range(int(sys.argv[2]) if len(sys.argv) > 2 else 5))
print(f"{tree}: {best / N * 1e6:.3f} us CPU per event (best of runs)")
