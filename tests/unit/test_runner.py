"""runner.settle_heap: start-up's objects leave the cyclic collector's walk, later garbage is
still collected; runner.trim_heap returns freed C heap to the kernel. Each case runs in a fresh
interpreter: both act on the whole process."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def in_fresh_interpreter(code: str) -> dict:
    result = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=ROOT, capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_what_start_up_built_is_frozen_and_a_full_collection_walks_only_what_came_after():
    seen = in_fresh_interpreter("""
        import gc, json
        from collector.runner import settle_heap
        markets = {f"C{i}/USDT:USDT": {"id": f"C{i}USDT", "precision": [i], "info": [i]} for i in range(20_000)}
        walked_before = len(gc.get_objects())
        frozen = settle_heap()
        later = [{"n": i} for i in range(1_000)]
        print(json.dumps({"walked_before": walked_before, "frozen": frozen, "walked_after": len(gc.get_objects())}))
    """)
    assert seen["frozen"] >= 60_000  # three containers a market, at least
    assert seen["walked_before"] >= 60_000
    assert seen["walked_after"] < 10_000  # the later objects and little else


def test_garbage_of_start_up_is_collected_before_the_freeze_and_garbage_made_after_still_is():
    seen = in_fresh_interpreter("""
        import gc, json, weakref
        from collector.runner import settle_heap
        class Node: pass
        def cycle():
            a, b = Node(), Node()
            a.other, b.other = b, a
            return weakref.ref(a)
        gc.disable()  # nothing collects the start-up cycle by chance before settle_heap does
        before = cycle()
        settle_heap()
        gc.enable()
        after = cycle()
        gc.collect()
        print(json.dumps({"before": before() is None, "after": after() is None}))
    """)
    assert seen == {"before": True, "after": True}


def test_trim_heap_gives_the_kernel_back_what_free_left_in_the_c_heap():
    """What a markets reload leaves: memory freed inside glibc's heap, still in RSS, until trimmed."""
    seen = in_fresh_interpreter("""
        import json, psutil
        from collector.runner import trim_heap
        process = psutil.Process()
        chunks = [bytes(2000) for _ in range(50_000)]  # 100 MB from malloc's heap (too big for pymalloc)
        pin = bytes(2000)  # the heap's top stays in use, so free() alone cannot shrink the heap
        allocated = process.memory_info().rss
        del chunks
        freed = process.memory_info().rss
        ran = trim_heap()
        trimmed = process.memory_info().rss
        print(json.dumps({"ran": ran, "kept_after_free_mb": (freed - allocated) / 2**20,
                          "returned_mb": (freed - trimmed) / 2**20}))
    """)
    if not seen["ran"]:
        pytest.skip("this C library has no malloc_trim")
    assert seen["kept_after_free_mb"] > -20  # free() alone returns (almost) nothing
    assert seen["returned_mb"] > 60


def test_the_young_threshold_doubles_while_collections_find_little_and_falls_back_when_one_finds_more():
    from collector.runner import YoungThreshold
    thresholds = [(700, 10, 10)]
    pacing = YoungThreshold(set_threshold=lambda *t: thresholds.append(t), get_threshold=lambda: thresholds[-1])
    pacing("start", {"generation": 0})
    assert thresholds[-1] == (700, 10, 10)  # only a finished collection says anything
    for found in (0, 0, 0, 250, 0, 0, 0, 0):  # up to the tolerance: a few dozen objects of asyncio's
        pacing("stop", {"generation": 0, "collected": found, "uncollectable": 0})
    assert [t[0] for t in thresholds] == [700, 1400, 2800, 5600, 11200, 20000]  # the ceiling holds
    pacing("stop", {"generation": 1, "collected": 251, "uncollectable": 0})
    assert thresholds[-1] == (700, 10, 10)
    pacing("stop", {"generation": 0, "collected": 0, "uncollectable": 0})
    pacing("stop", {"generation": 0, "collected": 200, "uncollectable": 60})  # garbage it cannot free counts too
    assert thresholds[-1] == (700, 10, 10)


def test_after_settle_heap_acyclic_churn_raises_the_threshold_and_the_first_cycles_bring_python_s_back():
    """What the native streams do (objects freed by their counts) against what ccxt does (cycles)."""
    seen = in_fresh_interpreter("""
        import gc, json
        from collector.runner import settle_heap
        settle_heap()
        settle_heap()  # a second settle does not pace twice
        class Node: pass
        held = []
        for i in range(200_000):  # records in flight: kept a while, then freed by their counts
            held.append({"n": i, "values": [i]})
            if len(held) > 15_000:
                held.clear()
        churned = gc.get_threshold()[0]
        for _ in range(2_000):  # ccxt's parse: garbage in cycles, far more than the tolerance
            a, b = Node(), Node()
            a.other, b.other = b, a
        del a, b
        gc.collect(0)
        after_cycles = gc.get_threshold()[0]
        print(json.dumps({"churned": churned, "after_cycles": after_cycles,
                          "callbacks": sum(type(cb).__name__ == "YoungThreshold" for cb in gc.callbacks)}))
    """)
    assert seen["churned"] == 20_000
    assert seen["after_cycles"] == 700
    assert seen["callbacks"] == 1
