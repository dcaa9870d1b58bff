"""`--status --url A --url B ...`: the fleet's coverage line says whether every symbol is collected once."""

from __future__ import annotations

from collector.shard import ShardConfig
from collector.ops.status_fleet import Member, coverage

SYMBOLS = [f"COIN{i}/USDT:USDT" for i in range(300)]


def member(index: int, count: int, symbols=None, url=None) -> Member:
    owned = sorted(ShardConfig(count=count, index=index).owned("okx", SYMBOLS)) if symbols is None else symbols
    health = {"status": "ok", "shard": {"index": index, "count": count},
              "exchanges": {"okx": {"symbols": len(owned), "listed": len(SYMBOLS)}}}
    return Member(url or f"http://h{index}:8080", health, {"okx": owned})


def test_three_shards_cover_every_symbol_exactly_once():
    lines, code = coverage([member(0, 3), member(1, 3), member(2, 3)])
    assert (lines, code) == (["  okx: 300 symbols, each collected by exactly one of 3 shards"], 0)


def test_a_replica_of_a_shard_counts_once():
    lines, code = coverage([member(0, 2), member(1, 2), member(1, 2, url="http://other:8080")])
    assert code == 0 and "exactly one of 2 shards" in lines[0]


def test_a_missing_shard_leaves_its_symbols_uncollected_and_fails():
    lines, code = coverage([member(0, 3), member(2, 3)])
    assert code == 2
    assert lines[0] == "  shards 1 of 3: no reachable daemon"
    assert "collected by no reachable shard" in lines[1]


def test_a_symbol_in_two_shards_is_named():
    first = sorted(ShardConfig(count=2, index=0).owned("okx", SYMBOLS))
    second = sorted(ShardConfig(count=2, index=1).owned("okx", SYMBOLS)) + [first[0]]
    lines, code = coverage([member(0, 2, first), member(1, 2, second)])
    assert code == 1 and f"1 symbols in more than one shard (e.g. {first[0]})" in lines[0]


def test_daemons_configured_with_different_counts_fail():
    lines, code = coverage([member(0, 2), member(1, 3)])
    assert code == 2 and "shard.count differs" in lines[0]
