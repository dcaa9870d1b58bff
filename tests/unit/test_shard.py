"""Symbol ownership across shards: rendezvous hashing on a stable hash, and the `shard:` section."""

from __future__ import annotations

import subprocess
import sys

import pytest

from collector.errors import ConfigError
from collector.exchanges.market_watch import MarketWatch
from collector.shard import ShardConfig, owner, symbols_digest
from config_manager import ConfigManager

SYMBOLS = [f"COIN{i}/USDT:USDT" for i in range(1500)]
# Pinned: every host, every Python, every release must compute these owners, or a fleet that
# upgrades one host at a time would collect some symbols twice and others not at all.
EXPECTED_OWNERS_OF_4 = {
    ("binance", "BTC/USDT:USDT"): 2, ("binance", "ETH/USDT:USDT"): 3, ("binance", "SOL/USDT:USDT"): 1,
    ("binance", "XRP/USDT:USDT"): 3, ("binance", "DOGE/USDT:USDT"): 2, ("binance", "ADA/USDT:USDT"): 2,
    ("okx", "BTC/USDT:USDT"): 3, ("okx", "ETH/USDT:USDT"): 2, ("okx", "SOL/USDT:USDT"): 0,
    ("okx", "XRP/USDT:USDT"): 3, ("okx", "DOGE/USDT:USDT"): 2, ("okx", "ADA/USDT:USDT"): 2,
}


def test_the_owners_of_a_fixed_list_never_change():
    assert {key: owner(*key, 4) for key in EXPECTED_OWNERS_OF_4} == EXPECTED_OWNERS_OF_4


def test_another_process_with_another_hash_seed_computes_the_same_owners():
    code = ("from collector.shard import owner; "
            "print([owner('bybit', f'COIN{i}/USDT:USDT', 5) for i in range(200)])")
    outputs = {subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                              env={"PYTHONHASHSEED": seed, "PYTHONPATH": "."}).stdout
               for seed in ("1", "2")}
    assert outputs == {str([owner("bybit", f"COIN{i}/USDT:USDT", 5) for i in range(200)]) + "\n"}


@pytest.mark.parametrize("count", range(1, 9))
def test_every_symbol_has_exactly_one_owner(count):
    shards = [ShardConfig(count=count, index=i) for i in range(count)]
    owned = [shard.owned("binance", SYMBOLS) for shard in shards]
    assert sum(len(o) for o in owned) == len(SYMBOLS)
    assert frozenset().union(*owned) == frozenset(SYMBOLS)
    if count > 1:  # and the split is fair: no shard gets less than half its share
        assert min(len(o) for o in owned) > len(SYMBOLS) / count / 2


@pytest.mark.parametrize("count", range(1, 8))
def test_one_more_shard_moves_only_its_share_of_the_symbols(count):
    moved = sum(owner("okx", s, count) != owner("okx", s, count + 1) for s in SYMBOLS)
    assert moved <= (1 / (count + 1) + 0.05) * len(SYMBOLS)
    # and every symbol that moved went to the new shard, none between the old ones
    assert all(owner("okx", s, count + 1) == count for s in SYMBOLS
               if owner("okx", s, count) != owner("okx", s, count + 1))


def test_the_same_symbol_on_two_exchanges_is_placed_independently():
    placed = {(owner("binance", s, 3), owner("bybit", s, 3)) for s in SYMBOLS[:300]}
    assert len(placed) == 9


def load(tmp_path, environ, text="shard: {count: 4, index: 1}\n"):
    path = tmp_path / "c.yaml"
    path.write_text("exchange_configs: {binance: {}}\n" + text)
    return ConfigManager(path, environ=environ, env_file=tmp_path / ".env").load_config()


def test_shard_comes_from_the_environment(tmp_path):
    config = load(tmp_path, {"CRYPTO_COLLECTOR_SHARD__COUNT": "3", "CRYPTO_COLLECTOR_SHARD__INDEX": "2"}, "")
    assert (config.shard.count, config.shard.number, config.shard.label) == (3, 2, "2/3")


def test_index_auto_takes_the_trailing_ordinal_of_the_host_name(tmp_path):
    config = load(tmp_path, {"HOSTNAME": "crypto-collector-3"}, "shard: {count: 4, index: auto}\n")
    assert config.shard.number == 3
    assert config.shard.describe() == "shard 3/4 (index auto from host crypto-collector-3)"


@pytest.mark.parametrize(("text", "host", "message"), [
    ("shard: {count: 4, index: 4}\n", "h", "shard.index: must be 0 ..= 3 (shard.count - 1) (given: 4)"),
    ("shard: {count: 4, index: auto}\n", "crypto-collector-7", "must be 0 ..= 3"),
    ("shard: {count: 4, index: auto}\n", "worker", "host name 'worker' has no trailing ordinal"),
    ("shard: {count: 4, index: first}\n", "h", "shard.index: must be an integer 0 ..= shard.count-1 or auto"),
    ("shard: {count: 0}\n", "h", "shard.count"),
])
def test_a_bad_shard_is_one_config_003_line(tmp_path, text, host, message):
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, {"HOSTNAME": host}, text)
    [(code, line)] = caught.value.problems
    assert code == "CONFIG_003" and message in line


def test_two_shards_on_one_host_get_their_own_journal_sqlite_file_and_health_port(tmp_path):
    config = load(tmp_path, {}, "shard: {count: 4, index: 2}\n")
    assert str(config.batch_processing.spool_dir) == "data/shard-2/spool"
    assert str(config.sqlite.path) == "data/shard-2/collector.db"
    assert config.health.port == 8082


def test_what_the_config_sets_itself_is_kept_for_every_shard(tmp_path):
    config = load(tmp_path, {"CRYPTO_COLLECTOR_HEALTH__PORT": "9000"},
                  "shard: {count: 4, index: 2}\nsqlite: {path: ./x.db}\nbatch_processing: {spool_dir: ./j}\n")
    assert (str(config.sqlite.path), str(config.batch_processing.spool_dir), config.health.port) == ("x.db", "j", 9000)


def test_an_unsharded_daemon_keeps_the_plain_defaults(tmp_path):
    config = load(tmp_path, {}, "")
    assert (str(config.sqlite.path), config.health.port, config.shard.label) == ("data/collector.db", 8080, "0/1")


def markets(symbols):
    return {s: {"swap": True, "linear": True, "quote": "USDT", "settle": "USDT"} for s in symbols}


def test_a_shard_collects_only_its_own_symbols_and_follows_listings_and_delistings():
    shard = ShardConfig(count=3, index=1)
    current = {}
    heard = []
    watch = MarketWatch("binance", "binanceusdm", (), ttl=900, timeout=10, load=None,
                        current=lambda: current, on_listed=heard.extend, owns=lambda s: shard.owns("binance", s))
    watch._apply(markets(SYMBOLS[:900]))
    assert watch.wanted == shard.owned("binance", SYMBOLS[:900]) and watch.listed == 900
    watch._apply(markets(SYMBOLS[100:1000]))  # 100 delisted, 100 listed
    assert watch.wanted == shard.owned("binance", SYMBOLS[100:1000])
    assert set(heard) == shard.owned("binance", SYMBOLS[:1000])


def test_the_digest_of_the_owned_symbols_does_not_depend_on_their_order():
    assert symbols_digest(["B", "A"]) == symbols_digest({"A", "B"}) != symbols_digest(["A"])
