"""The mutations `python -m tests.mutations` runs: each breaks one behaviour a user would notice.

Keep each one small (one line where possible) and name the tests that must fail; when the code
changes so that an original text no longer occurs exactly once, tests/unit/test_mutations.py
fails and the entry is updated with the code.
"""

from __future__ import annotations

from dataclasses import replace

from collector.records import RECORD_TYPES
from tests.mutations import Edit, Mutation, mutation

BREAKER = "collector/resilience/breaker.py"
RETRY = "collector/resilience/retry.py"
MASKING = "collector/masking.py"
LOGGING = "collector/logging.py"
CONFIG = "collector/config.py"
CONFIG_FIELDS = "collector/config_fields.py"
MANAGER = "config_manager.py"
CONFIG_PROBLEMS = "collector/config_problems.py"
NORMALIZE = "collector/exchanges/normalize.py"
FIELD_READERS = "collector/exchanges/field_readers.py"
VALUES = "collector/values.py"
MARKET_SELECTION = "collector/exchanges/market_selection.py"
KIND_STATE = "collector/exchanges/kind_state.py"
RECORDS = "collector/records.py"
RECORD_CHECKS = "collector/record_checks.py"
STREAM_REPORT = "collector/streams/report.py"
PIPELINE = "collector/pipeline.py"
SCHEDULER = "collector/scheduler.py"
HEALTH = "collector/ops/health.py"
SYSTEMD = "collector/ops/systemd.py"
SUMMARY = "collector/ops/summary.py"
CHECKS = "collector/ops/checks.py"
APP = "collector/app.py"
SINK_BASE = "collector/sinks/base.py"
ENABLED_SINKS = "collector/sinks/enabled.py"
JOURNAL = "collector/journal/journal.py"
RETENTION = "collector/journal/retention.py"
SEGMENTS = "collector/journal/segments.py"
FRAMES = "collector/journal/frames.py"
WRITER = "collector/sinks/writer.py"
SETTLED = "collector/journal/settled.py"
SOURCE = "collector/exchanges/source.py"
SIM_RENDER = "exchange_simulator/ws_render.py"
SIM_WS = "exchange_simulator/ws_server.py"
SIM_WALK = "exchange_simulator/walk.py"
SIM = "exchange_simulator/server.py"
RUNNER = "collector/runner.py"
STOPPING = "collector/stopping.py"
CCXT_ADAPTER = "collector/ccxt_adapter.py"
CCXT_PRO = "collector/streams/ccxtpro.py"
SETTINGS_ADAPTER = "collector/settings_adapter.py"
STREAM = "collector/streams/owner.py"
STREAM_SESSIONS = "collector/streams/sessions.py"
STREAM_CONNECTION = "collector/streams/connection.py"
PARTS = "collector/exchanges/parts.py"
REJECTIONS = "collector/exchanges/rejections.py"
SOURCE = "collector/exchanges/source.py"
OBSERVATIONS = "collector/exchanges/observations.py"
AMQP_WIRE = "collector/sinks/rabbitmq/amqp_wire.py"
MQ_SINK = "collector/sinks/rabbitmq/sink.py"
MQ_TOPOLOGY = "collector/sinks/rabbitmq/topology.py"
UNROUTABLE = "collector/sinks/rabbitmq/unroutable.py"
DELIVERY = "collector/sinks/delivery.py"
ENTRY = "futures_price_collector_v5.py"

VENUE_BINANCE = "collector/venues/binance.py"
VENUE_BYBIT = "collector/venues/bybit.py"
VENUE_OKX = "collector/venues/okx.py"
VENUE_PARSE = "collector/venues/parse.py"
NATIVE_STREAM = "collector/streams/native.py"
NATIVE_DIALECTS = "collector/streams/native_dialects.py"
_T_DECODERS = "tests/integration/test_streaming_decoders.py::"
T_NATIVE_PINGS = _T_DECODERS + "test_a_native_stream_pings_as_the_venue_requires_and_reads_the_pongs_as_no_data"
T_NATIVE_SERVER_PINGS = _T_DECODERS + "test_a_native_binance_stream_answers_the_server_s_pings_and_keeps_its_sockets"
T_NATIVE_SAME = _T_DECODERS + "test_native_and_ccxt_stream_the_same_records_from_the_same_feed"
T_NATIVE_BAD_FRAME = _T_DECODERS + "test_a_native_stream_reads_past_a_bad_frame_with_one_stream_003_line"

ARCHIVE_SINK = "collector/sinks/parquet/sink.py"
ARCHIVE_RANGES = "collector/sinks/parquet/ranges.py"
ARCHIVE_LAYOUT = "collector/sinks/parquet/layout.py"
ARCHIVE_TABLES = "collector/sinks/parquet/tables.py"
ARCHIVE_COMPACTION = "collector/sinks/parquet/compaction.py"
EXPORT = "collector/ops/export.py"
SHARD = "collector/shard.py"
MARKET_WATCH = "collector/exchanges/market_watch.py"
FLEET = "collector/ops/status_fleet.py"

T_BREAKER = "tests/unit/resilience/test_breaker.py"
T_RETRY = "tests/unit/resilience/test_retry.py"
T_MASKING = "tests/unit/test_masking.py"
T_LOGGING = "tests/unit/test_logging.py"
T_CONFIG = "tests/unit/test_config_loading.py"
T_NORMALIZE = "tests/unit/exchanges/test_normalize.py"
T_MARKET_SELECTION = "tests/unit/exchanges/test_market_selection.py"
T_KIND_STATE = "tests/unit/exchanges/test_kind_state.py"
T_RECORDS = "tests/unit/test_records.py"
T_STREAM_REPORT = "tests/unit/streams/test_report.py"
T_PIPELINE = "tests/unit/test_pipeline.py"
T_SCHEDULER = "tests/unit/test_scheduler.py"
T_HEALTH = "tests/unit/ops/test_health.py"
T_SYSTEMD = "tests/unit/ops/test_systemd.py"
T_SUMMARY = "tests/unit/ops/test_summary.py"
T_CHECKS = "tests/unit/ops/test_checks.py"
T_APP = "tests/unit/test_app.py"
T_SINK_BASE = "tests/unit/sinks/test_base.py"
T_JOURNAL = "tests/unit/journal/test_journal.py"
T_WRITER = "tests/unit/sinks/test_writer.py"
T_JOURNAL_FULL = "tests/integration/test_journal_full.py"
T_SETTLED_RESTART = ("tests/integration/test_observations.py::"
                     "test_a_restarted_collector_asks_settled_funding_after_the_last_one_journaled_and_repeats_none")
T_SETTLED_DAEMON = "tests/e2e/test_settlement_restart.py"
T_ARCHIVE = "tests/integration/test_parquet_sink.py"
T_ARCHIVE_PROCESS = "tests/integration/test_parquet_writer_process.py"
T_ARCHIVE_EXPORT = ("tests/e2e/test_parquet_archive.py::"
                    "test_export_writes_a_range_as_csv_and_parquet_from_the_archive_or_sqlite")
T_LIFECYCLE_SECRETS = "tests/e2e/test_lifecycle.py::test_secrets_never_reach_the_logs"
T_RUNNER = "tests/unit/test_runner.py"
T_STOPPING = "tests/unit/test_stopping.py"
T_CCXT_ADAPTER = "tests/unit/test_ccxt_adapter.py"
T_CCXT_PRO_SUPPORTED = "tests/unit/streams/test_ccxtpro_supported.py"
T_UNREADABLE = ("tests/unit/streams/test_dialects.py::"
                "test_a_frame_ccxt_pro_cannot_parse_is_one_coded_line_a_minute_not_a_traceback")
T_SECOND_SIGNAL = ("tests/e2e/test_lifecycle.py::"
                   "test_a_second_stop_signal_forces_the_exit_saying_what_the_journal_keeps")
T_SHARD = "tests/unit/test_shard.py"
T_SHARDS_POLL = "tests/e2e/test_shards.py::test_three_shards_collect_every_symbol_exactly_once[poll]"
T_SHARD_COLLECTION = "tests/integration/test_shard_collection.py"
T_SHARDS_STREAM = "tests/e2e/test_shards.py::test_three_shards_collect_every_symbol_exactly_once[stream]"
T_STREAM_SILENCE = ("tests/integration/test_streaming_faults.py::"
                    "test_a_stream_fault_is_detected_covered_by_rest_and_recovered_with_one_line_each[native-bybit-ws_silence]")
T_STREAM_FILLS = ("tests/integration/test_streaming_values.py::"
                  "test_with_zero_a_channel_that_only_fills_is_parsed_when_read_not_frame_by_frame")
T_STREAM_LISTING = ("tests/integration/test_streaming_faults.py::"
                    "test_a_symbol_listed_while_streaming_is_streamed_without_a_restart_or_a_fallback[ccxt-okx]")
T_STREAM_INTERVALS = ("tests/integration/test_streaming_faults.py::"
                      "test_a_binance_funding_interval_is_left_empty_while_funding_info_fails_and_filled_once_it_answers")
T_RECORDED = "tests/unit/exchanges/test_recorded_payloads.py"
T_REJECTIONS = "tests/unit/exchanges/test_rejections.py"
T_ONCE_OPEN_INTEREST = ("tests/integration/test_collection_values.py::"
                        "test_once_stores_binance_tickers_with_the_open_interest_fetched_in_the_same_run")
T_OKX_OPEN_INTEREST = ("tests/integration/test_collection_values.py::"
                       "test_okx_open_interest_without_oiccy_is_its_contracts_times_the_contract_size")
T_REJECTED_SYMBOL = ("tests/integration/test_collection_faults.py::"
                     "test_a_symbol_the_open_interest_endpoint_rejects_keeps_its_tickers_and_funding_rates")
T_OBSERVATIONS = "tests/unit/exchanges/test_observations.py"
T_STREAM_OBSERVATIONS = "tests/integration/test_streaming_observations.py"
T_ONE_FIELD_MOVES = ("tests/e2e/test_one_field_moves.py::"
                     "test_every_move_of_a_symbol_whose_only_moving_value_is_one_field_is_stored_in_sqlite")

# Where each mode compares a record with the symbol's last observation (`ignoring` below).
_COMPARISONS = {
    "poll": (KIND_STATE, "            landing = landing_ts(last, record)\n",
             "            landing = landing_ts({last}, record)\n", "last"),
    "stream": (OBSERVATIONS, "            ts = landing_ts(seen, record)\n",
               "            ts = landing_ts({last}, record)\n", "seen"),
}


def ignoring(mode: str, kind: str, name: str) -> Mutation:
    """`mode`'s comparison blind to one value field of `kind`: the last observation is compared
    as if it had the new record's value there (a field lost from the comparison in a refactor)."""
    path, original, template, last = _COMPARISONS[mode]
    blind = (f"{last} and {last}.replaced({{'{name}': getattr(record, '{name}')}}) "
             f"if record.kind == '{kind}' else {last}")
    return mutation(f"observations.{mode}_ignores_{kind}_{name}", path, original, template.format(last=blind),
                    breaks=f"in {mode} mode an update in which only the {kind}'s {name} moved is dropped",
                    tests=T_OBSERVATIONS)


# Every value field of every kind, in both modes: a field added to a record type gets its own.
FIELD_MUTATIONS: tuple[Mutation, ...] = tuple(
    ignoring(mode, kind, name)
    for mode in _COMPARISONS for kind, cls in RECORD_TYPES.items() for name in cls.value_fields)
STREAM_GATE = "collector/streams/ccxtpro.py"
CONFLATION = "collector/streams/conflation.py"
T_STREAM_GATE = "tests/unit/streams/test_ccxtpro_gate.py"
_STREAM_RECORDS = "tests/integration/test_streaming_records.py::"
T_STREAM_HEALTH = _STREAM_RECORDS + "test_a_streaming_exchange_s_health_and_records_collected_follow_the_streamed_records"
T_STREAM_KEPT = _STREAM_RECORDS + "test_a_frame_kept_by_conflation_keeps_the_time_it_came_as_received_at"
T_STREAM_STOP = _STREAM_RECORDS + "test_a_stop_writes_every_frame_received_also_those_conflation_keeps"
T_STREAM_DAEMON = ("tests/e2e/test_streaming_daemon.py::"
                   "test_a_streaming_daemon_s_health_and_metrics_follow_the_stream_and_a_sigterm_writes_what_it_received")
_MQ = "tests/integration/test_rabbitmq_queues.py::"
T_MQ_HOLD = _MQ + "test_a_record_no_queue_binds_is_held_in_the_journal_counted_logged_and_delivered_once_bound"
T_MQ_DECLARED = _MQ + "test_a_quorum_queue_and_a_stream_declared_by_the_sink_keep_every_record_for_a_later_reader"
T_MQ_002 = _MQ + "test_a_queue_that_exists_with_other_arguments_is_mq_002_naming_it_and_the_argument"
T_MQ_FAILOVER = _MQ + "test_with_two_hosts_the_sink_fails_over_when_its_node_goes_away"
_MQ_DAEMON = "tests/e2e/test_rabbitmq_queues_daemon.py::"
T_MQ_002_EXIT = _MQ_DAEMON + "test_a_queue_that_exists_with_other_arguments_exits_1_at_start_with_mq_002"
T_MQ_ONLINE = _MQ_DAEMON + "test_validate_config_online_says_ok_for_each_reachable_sink_and_exits_0"
T_VENUES = ("tests/unit/venues/test_native_properties.py", "tests/unit/venues/test_recorded_native_vs_ccxt.py",
            "tests/unit/venues/test_okx_open_interest.py")
T_VENUE_FRAMES = "tests/unit/venues/test_frames_native_vs_ccxt_pro.py"
T_DECODER_CONFIG = "tests/unit/venues/test_decoder_config.py"

MUTATIONS: tuple[Mutation, ...] = (
    # --- breaker ---------------------------------------------------------------------------
    mutation("breaker.open_breaker_lets_calls_through", BREAKER,
             "if self.retry_in() > 0:", "if False:",
             breaks="an exchange that keeps failing is still called on every tick", tests=T_BREAKER),
    mutation("breaker.opens_one_failure_late", BREAKER,
             "self.consecutive_failures >= self.failure_threshold",
             "self.consecutive_failures > self.failure_threshold",
             breaks="the breaker opens after threshold + 1 failures, not threshold", tests=T_BREAKER),
    mutation("breaker.half_open_lets_every_caller_through", BREAKER,
             "if self._probe_in_flight:", "if False:",
             breaks="a recovering exchange gets a burst of requests instead of one probe", tests=T_BREAKER),
    mutation("breaker.failed_probe_keeps_it_half_open", BREAKER,
             "if self._state is BreakerState.HALF_OPEN or (", "if (",
             breaks="a failed probe does not re-open the breaker", tests=T_BREAKER),
    mutation("breaker.success_keeps_the_failure_count", BREAKER,
             "        self.consecutive_failures = 0\n        self._probe_in_flight = False\n",
             "        self._probe_in_flight = False\n",
             breaks="failures spread over days add up and open the breaker", tests=T_BREAKER),
    # --- retry -----------------------------------------------------------------------------
    mutation("retry.non_retryable_errors_are_retried", RETRY,
             "if not retryable(err):", "if False:",
             breaks="a bad API key is retried (and locks the account) instead of failing at once",
             tests=T_RETRY),
    mutation("retry.one_attempt_too_many", RETRY,
             "if attempt >= policy.max_attempts:", "if attempt > policy.max_attempts:",
             breaks="retry.max_attempts is exceeded by one", tests=T_RETRY),
    mutation("retry.retry_after_ignored", RETRY,
             "delay = min(policy.max_delay, max(delay, asked))", "delay = delay",
             breaks="a 429's Retry-After is ignored and the exchange bans us", tests=T_RETRY),
    mutation("retry.retry_after_uncapped", RETRY,
             "delay = min(policy.max_delay, max(delay, asked))", "delay = max(delay, asked)",
             breaks="a Retry-After of an hour stalls the poller past retry.max_delay", tests=T_RETRY),
    mutation("retry.backoff_does_not_grow", RETRY,
             "self.base_delay * 2 ** (attempt - 1)", "self.base_delay",
             breaks="retries hammer a struggling server at a constant pace", tests=T_RETRY),
    # --- masking ---------------------------------------------------------------------------
    Mutation("masking.both_masking_functions_disabled",
             "API keys, passwords and URL credentials reach the log file and --validate-config",
             (T_LIFECYCLE_SECRETS,),
             (Edit(MASKING, 'return f"{MASK} (set)" if value else "(empty)"', "return str(value)"),
              Edit(MASKING, "return _URL_CREDENTIALS.sub(lambda m: f\"{m['scheme']}{m['user']}:{MASK}@\", text)",
                   "return text"))),
    mutation("masking.url_credentials_kept", MASKING,
             "return _URL_CREDENTIALS.sub(lambda m: f\"{m['scheme']}{m['user']}:{MASK}@\", text)",
             "return text",
             breaks="user:password@ inside a URL reaches the logs", tests=(T_MASKING, T_LOGGING)),
    mutation("masking.secret_value_shown", MASKING,
             'return f"{MASK} (set)" if value else "(empty)"', "return str(value)",
             breaks="a secret's value is printed where only 'set' may be", tests=T_MASKING),
    mutation("masking.nested_secret_keys_kept", MASKING,
             "if str(key).lower() in SECRET_KEYS and value not in (None, \"\")",
             "if False",
             breaks="a secret inside ccxt_options (headers, apiKey) is printed", tests=T_MASKING),
    mutation("masking.log_processor_keeps_secret_fields", LOGGING,
             "        if key.lower() in SECRET_KEYS:\n            event[key] = mask_value(value)\n",
             "        if False:\n            event[key] = mask_value(value)\n",
             breaks="a log line's password= field is written in clear", tests=T_LOGGING),
    # --- config loading and validation -----------------------------------------------------
    mutation("config.unknown_keys_pass_silently", CONFIG_FIELDS,
             'model_config = ConfigDict(frozen=True, extra="forbid", validate_default=True)',
             'model_config = ConfigDict(frozen=True, extra="ignore", validate_default=True)',
             breaks="a typo in the YAML is silently ignored", tests=T_CONFIG),
    mutation("config.interval_range_unchecked", CONFIG,
             "ticker_interval: float = Field(30.0, ge=1.0, le=3600.0)",
             "ticker_interval: float = Field(30.0)",
             breaks="ticker_interval 0.5 passes and the exchanges ban us", tests=T_CONFIG),
    mutation("config.dotenv_wins_over_the_environment_in_expansion", MANAGER,
             "environ = {**dotenv, **self._environ}", "environ = {**self._environ, **dotenv}",
             breaks="${VAR} takes the .env value although the real environment sets it", tests=T_CONFIG),
    mutation("config.dotenv_override_wins_over_the_environment", MANAGER,
             "return _deep_merge(layers[0], layers[1]), sources",
             "return _deep_merge(layers[1], layers[0]), sources",
             breaks="CRYPTO_COLLECTOR_* from .env wins over the real environment", tests=T_CONFIG),
    mutation("config.only_the_first_problem_is_reported", MANAGER,
             "problems.extend(describe(error, sources) for error in err.errors())",
             "problems.extend(describe(error, sources) for error in err.errors()[:1])",
             breaks="--validate-config stops at the first problem", tests=T_CONFIG),
    mutation("config.secret_shown_in_a_problem", CONFIG_PROBLEMS,
             "shown = mask_value(given) if any(part in SECRET_KEYS for part in loc) else short_repr(given)",
             "shown = short_repr(given)",
             breaks="a wrongly typed password is printed by --validate-config", tests=T_CONFIG),
    mutation("config.expansion_default_ignored", MANAGER,
             "        if default is not None:\n            return default\n",
             "        if False:\n            return default\n",
             breaks="${VAR:-default} fails when VAR is unset", tests=T_CONFIG),
    mutation("config.yaml_error_line_off_by_one", MANAGER,
             'where = f"line {mark.line + 1}, column {mark.column + 1}"',
             'where = f"line {mark.line}, column {mark.column}"',
             breaks="a YAML error points at the wrong line", tests=T_CONFIG),
    mutation("errors.contract_code_misspelt", "collector/errors.py",
             'DB_001 = "DB_001"', 'DB_001 = "DB_01"',
             breaks="log lines carry a code the operator guide and the alerts do not know",
             tests="tests/unit/test_errors.py::test_error_codes_are_the_contract_codes"),
    # --- normalize -------------------------------------------------------------------------
    mutation("values.nan_accepted", VALUES,
             "if value - value == 0.0:  # False for NaN and ±inf", "if True:",
             breaks="a NaN price from an exchange becomes a record", tests=T_NORMALIZE),
    mutation("normalize.okx_volume_in_contracts", FIELD_READERS,
             '"okx": {"base_volume_24h": "volCcy24h"},', '"okx": {},',
             breaks="okx base volume is stored in contracts, not in base currency", tests=T_NORMALIZE),
    mutation("normalize.unwanted_symbols_collected", NORMALIZE,
             'if entry["symbol"] not in wanted:', "if False:",
             breaks="symbols the config did not ask for are collected", tests=T_NORMALIZE),
    mutation("values.timestamp_range_unchecked", VALUES,
             "    if not MIN_TS <= value <= MAX_TS:\n        raise MalformedEntry",
             "    if False:\n        raise MalformedEntry",
             breaks="a timestamp in seconds (or year 1970) becomes a record", tests=T_NORMALIZE),
    mutation("normalize.one_malformed_entry_loses_the_response", NORMALIZE,  # the merged poll's
             "                merged[symbol] = [values, ts, None]\n            except _UNUSABLE:",
             "                merged[symbol] = [values, ts, None]\n            except ():",
             breaks="one bad entry loses every symbol of the poll", tests=T_NORMALIZE),
    mutation("normalize.funding_without_rate_accepted", NORMALIZE,  # the merged poll's builder
             'if rate_required and values["funding_rate"] is None:', "if False:",
             breaks="a funding entry without a rate becomes a record", tests=T_NORMALIZE),
    mutation("normalize.bybit_open_interest_lost", FIELD_READERS,
             '"bybit": {"open_interest": "openInterest", "ts": "timestamp"},', '"bybit": {"ts": "timestamp"},',
             breaks="bybit tickers lose their open interest", tests=T_NORMALIZE),
    mutation("normalize.default_interval_without_funding_info", NORMALIZE,
             "self._default_interval if any(p.fills == _INTERVAL_FILLS for p, _ in rest) else None",
             "self._default_interval",
             breaks="a failed binance fundingInfo request stores 8 h for symbols that settle every 4 h or 1 h",
             tests=T_RECORDED),
    # --- records ---------------------------------------------------------------------------
    mutation("records.nan_passes_validation", RECORD_CHECKS,
             "or not math.isfinite(value)", "or False",
             breaks="a NaN reaches the sinks, which refuse the whole batch", tests=T_RECORDS),
    mutation("records.bool_passes_as_a_number", RECORD_CHECKS,
             "if type(value) is bool or not isinstance", "if not isinstance",
             breaks="True is stored as a price of 1.0", tests=T_RECORDS),
    mutation("records.time_range_unchecked", RECORD_CHECKS,
             "if not MIN_TS <= value <= MAX_TS:", "if False:",
             breaks="a timestamp in seconds is stored as 1970", tests=T_RECORDS),
    mutation("records.symbol_length_unchecked", RECORD_CHECKS,
             "if len(value) > max_length:", "if False:",
             breaks="a 10 KB symbol reaches the sinks", tests=T_RECORDS),
    mutation("records.message_id_ignores_ts", RECORDS,
             'key = f"{record.kind}|{record.exchange}|{record.symbol}|{record.ts}"',
             'key = f"{record.kind}|{record.exchange}|{record.symbol}"',
             breaks="consumers deduplicate every tick of a symbol into one message", tests=T_RECORDS),
    mutation("records.message_id_differs_between_runs", RECORDS,
             "return hashlib.blake2b(key.encode(), digest_size=16).hexdigest()", "return str(hash(key))",
             breaks="a replay after a restart gets new message ids and consumers see duplicates",
             tests=T_RECORDS),
    mutation("records.routing_key_keeps_dots", RECORDS,
             "parts.replace('.', '_')", "parts",
             breaks="a symbol with a dot splits its routing key into extra topic words", tests=T_RECORDS),
    mutation("records.to_dict_loses_kind", RECORDS,
             'data = {"kind": record.kind}', "data = {}",
             breaks="RabbitMQ messages do not say what kind of record they carry", tests=T_RECORDS),
    mutation("records.plain_check_passes_nan", RECORD_CHECKS,
             "return total - total == 0", "return True",
             breaks="a NaN or infinite price reaches the sinks", tests=T_RECORDS),
    mutation("records.plain_check_passes_bool", RECORD_CHECKS,
             "_NUMBER_TYPES: Final = frozenset({int, float, type(None)})",
             "_NUMBER_TYPES: Final = frozenset({int, float, bool, type(None)})",
             breaks="a true/false value is stored as a price", tests=T_RECORDS),
    mutation("records.plain_check_passes_a_bad_time", RECORD_CHECKS,
             "and type(ts) is int and MIN_TS <= ts <= MAX_TS", "and type(ts) is int",
             breaks="a timestamp in seconds reaches the sinks", tests=T_RECORDS),
    mutation("records.missing_fields_become_zero", RECORDS,
             "received_at: int, last: float | None = None,", "received_at: int, last: float | None = 0.0,",
             breaks="a field the exchange did not give is stored as 0, not empty", tests=T_RECORDS),
    mutation("records.init_sets_a_field_from_another", RECORDS,
             "        set_bid(self, bid)\n", "        set_bid(self, ask)\n",
             breaks="every ticker's bid is stored as its ask", tests=T_RECORDS),
    mutation("records.replaced_keeps_an_old_value", RECORDS,
             'get("open_interest", self.open_interest)', "self.open_interest",
             breaks="a streamed ticker's open interest filled by the merger never reaches the sinks",
             tests=T_RECORDS),
    # --- streams: how late the records come ------------------------------------------------
    mutation("streams.lag_never_reported", STREAM_REPORT,
             "lagging = lag >= (self.limit / 2 if self.lagging else self.limit)", "lagging = False",
             breaks="a daemon that falls behind its streams says nothing", tests=T_STREAM_REPORT),
    mutation("streams.lag_flaps", STREAM_REPORT,
             "lagging = lag >= (self.limit / 2 if self.lagging else self.limit)", "lagging = lag >= self.limit",
             breaks="a lag around the limit logs a line every sweep", tests=T_STREAM_REPORT),
    mutation("streams.fills_parsed_frame_by_frame", STREAM_SESSIONS,
             "return self._interval if channel.kinds else max(self._interval, FILL_EVERY)",
             "return self._interval",
             breaks="with stream_interval 0, every bookTicker frame is parsed though only tickers read it",
             tests=T_STREAM_FILLS),
    mutation("streams.watchdog_blind", STREAM_CONNECTION,
             "        if self.exchange is None:\n            return  # between sessions",
             "        if True:\n            return  # between sessions",
             breaks="a socket that answers pings but sends no data is never torn down: the exchange goes "
                    "silent with no down line and no REST fallback", tests=T_STREAM_SILENCE),
    mutation("streams.markets_not_shared_after_reload", STREAM,
             "                if not self.native and ccxtpro_markets.share_markets(self.source, self.connections):\n",
             "                if False:\n",
             breaks="after each markets reload every open ccxt pro instance keeps the old tables alive until "
                    "its next session: two sets of markets in memory", tests=T_STREAM_LISTING),
    mutation("streams.missing_intervals_never_asked_again", STREAM,
             "                await self._learn_missing_intervals()  # first: a listing added now is asked below\n", "",
             breaks="a binance stream that started while fundingInfo failed never records funding intervals",
             tests=T_STREAM_INTERVALS),
    mutation("streams.session_holds_its_markets", STREAM_GATE,
             "        connection.gate = self._make_gate(exchange, symbols=_market_ids(exchange, connection.symbols),\n",
             "        markets = exchange.markets  # noqa: F841\n"
             "        connection.gate = self._make_gate(exchange, symbols=_market_ids(exchange, connection.symbols),\n",
             breaks="every session's frame keeps the markets tables it opened with past each reload: one more "
                    "generation of every exchange's markets in memory (the 30-minute soak: +4 MB)", tests=T_STREAM_LISTING),
    # --- streams: what /health, the metrics and the sinks see of them ------------------------
    mutation("streams.health_blind_to_streamed_records", KIND_STATE,
             "            kinds[kind].streamed(now)\n", "",
             breaks="a streaming exchange's /health says its last success was at the start and its tickers "
                    "are minutes stale while a thousand updates a second arrive",
             tests=(T_KIND_STATE, T_STREAM_HEALTH, T_STREAM_DAEMON)),
    mutation("streams.streamed_records_not_counted", KIND_STATE,
             "            metrics.child(metrics.records_collected, exchange, kind).inc(count)\n", "",
             breaks="the dashboard's records collected per second shows a streaming exchange near 0",
             tests=(T_KIND_STATE, T_STREAM_HEALTH)),
    mutation("streams.summary_never_logged_while_streaming", KIND_STATE,
             "    if now - summary.started >= SUMMARY_EVERY:\n        summary.log(exchange, now)\n", "",
             breaks="no once-a-minute exchange_summary line for a streaming exchange", tests=T_KIND_STATE),
    mutation("streams.stop_drops_what_it_received", STREAM,
             "                await self._publish_streamed(self._take(self._clock(), final=True))\n",
             "                pass\n",
             breaks="frames received in the last seconds before a stop never reach the sinks",
             tests=(T_STREAM_STOP, T_STREAM_DAEMON)),
    mutation("streams.stop_leaves_the_kept_frames", CONFLATION,
             "due = now if everything else now - self._interval", "due = now - self._interval",
             breaks="at a stop the newest frame conflation kept of each market is lost",
             tests=(T_STREAM_GATE, T_STREAM_STOP)),
    mutation("streams.received_at_when_written", STREAM,
             "fresh = self._fresh(channel, entry, received_at)", "fresh = self._fresh(channel, entry, int(time.time() * 1000))",
             breaks="a record kept by conflation says it was received seconds after its frame came",
             tests=T_STREAM_KEPT),
    # --- runner: the heap start-up built, out of the collector's walk -----------------------
    mutation("runner.heap_never_frozen", RUNNER, "    gc.freeze()\n", "",
             breaks="every full collection walks every market again: half-second stalls of every stream",
             tests=T_RUNNER),
    # --- a second stop signal forces the exit, leaving the journal whole ----------------------
    mutation("stopping.second_signal_only_logs", STOPPING, "            self.forced.set()\n",
             "            log.warning(\"stop_already_requested\")\n",
             breaks="a second Ctrl-C leaves the operator waiting for a sink that never answers",
             tests=(T_STOPPING, T_SECOND_SIGNAL)),
    mutation("journal.halt_saves_no_cursors", JOURNAL, "                ledger.write(self.path, cursors)\n",
             "                pass\n",
             breaks="after a forced exit every sink gets again what it confirmed since the last save",
             tests=T_STOPPING),
    # --- the adapters to other libraries' internals: refused outside their range --------------
    mutation("ccxt_adapter.any_version_passes", CCXT_ADAPTER,
             "    if major_minor not in SUPPORTED_CCXT:\n", "    if False:\n",
             breaks="a ccxt upgrade that no longer calls our throttle goes unnoticed: no rate limit",
             tests=T_CCXT_ADAPTER),
    mutation("ccxt_adapter.throttle_not_taken", CCXT_ADAPTER,
             "    exchange.throttle = throttle\n", "    pass\n",
             breaks="ccxt's leaky bucket paces the requests, forgetting idle time", tests=T_CCXT_ADAPTER),
    mutation("ccxtpro.any_version_passes", CCXT_PRO,
             "    if tuple(int(part) for part in version.split(\".\")[:2]) not in SUPPORTED_CCXT_PRO:\n",
             "    if False:\n",
             breaks="a ccxt pro upgrade that renamed handle_message streams through no gate", tests=T_CCXT_PRO_SUPPORTED),
    mutation("ccxtpro.unreadable_frame_not_recognised", CCXT_PRO,
             'if module == "ccxt" or module.startswith("ccxt."):', "if False:",
             breaks="every frame ccxt pro cannot parse prints asyncio's traceback", tests=T_UNREADABLE),
    mutation("settings_adapter.any_version_passes", SETTINGS_ADAPTER,
             "    if tuple(int(part) for part in version.split(\".\")[:2]) not in SUPPORTED_PYDANTIC_SETTINGS:\n",
             "    if False:\n",
             breaks="a pydantic-settings upgrade that ignores our names drops every environment override unnoticed",
             tests="tests/unit/test_settings_adapter.py"),
    mutation("runner.heap_never_trimmed", RUNNER, "    _MALLOC_TRIM(0)\n", "",
             breaks="each markets reload's peak stays in RSS: glibc keeps the pages freed inside its heap",
             tests=T_RUNNER),
    mutation("runner.young_threshold_never_falls_back", RUNNER,
             "wanted = self.floor if found > self.tolerance else", "wanted = self.ceiling if found > self.tolerance else",
             breaks="ccxt's cycles wait for 20,000 allocations each: the heap of a ccxt stream grows", tests=T_RUNNER),
    mutation("runner.young_threshold_never_rises", RUNNER, "    YoungThreshold().install()\n", "",
             breaks="at every update of 1,500 perps a fifth of the core walks records in flight for nothing",
             tests=T_RUNNER),
    mutation("runner.start_up_garbage_frozen", RUNNER, "    gc.collect()  # garbage of start-up", "    pass  # garbage of start-up",
             breaks="cycles start-up let go of are frozen with the rest and never freed", tests=T_RUNNER),
    # --- pipeline: rejection at the boundary ----------------------------------------------
    mutation("pipeline.malformed_records_reach_the_writers", PIPELINE,
             "                validate(record)\n", "                pass\n",
             breaks="a NaN record poisons a sink's batch", tests=T_PIPELINE),
    mutation("pipeline.rejections_not_counted", PIPELINE,
             'metrics.records_dropped.labels(sink="pipeline", reason="malformed").inc()', "pass",
             breaks="collector_records_dropped_total hides rejected records", tests=T_PIPELINE),
    mutation("pipeline.rejection_log_floods", PIPELINE,
             "if last is not None and now - last < self._log_every:", "if False:",
             breaks="a broken exchange writes one log line per bad record", tests=T_PIPELINE),
    mutation("pipeline.one_log_window_for_every_exchange", PIPELINE,
             "exchange = exchange[:64]", 'exchange = "all"',
             breaks="one noisy exchange silences the rejection lines of the others", tests=T_PIPELINE),
    # --- scheduler -------------------------------------------------------------------------
    mutation("scheduler.ticks_drift", SCHEDULER,
             "delay = start + tick * interval - self._clock()", "delay = interval",
             breaks="ticks drift later and later over hours", tests=T_SCHEDULER),
    mutation("scheduler.missed_ticks_are_stacked", SCHEDULER,
             "if due <= following:", "if True:",
             breaks="an overrun poll is followed by a burst of catch-up polls", tests=T_SCHEDULER),
    mutation("scheduler.skipped_ticks_not_counted", SCHEDULER,
             "metrics.ticks_skipped.labels(name, kind).inc(skipped)", "pass",
             breaks="collector_ticks_skipped_total stays 0 while polls overrun", tests=T_SCHEDULER),
    mutation("scheduler.crash_logged_on_every_tick", SCHEDULER,
             "if key not in self._crashing:", "if True:",
             breaks="a crashing poll floods the log with a traceback per tick", tests=T_SCHEDULER),
    mutation("scheduler.crash_ends_the_poller", SCHEDULER,
             "except Exception as err:  # the loop must go on",
             "except ArithmeticError as err:  # the loop must go on",
             breaks="one unexpected exception stops an exchange's polling for good", tests=T_SCHEDULER),
    mutation("scheduler.no_start_jitter", SCHEDULER,
             "start = self._clock() + self._rng() * min(self._max_jitter, interval * 0.1)",
             "start = self._clock()",
             breaks="every exchange is hit in the same millisecond", tests=T_SCHEDULER),
    mutation("scheduler.run_once_polls_one_after_another", SCHEDULER,
             "                tasks += [group.create_task(self._once(source, kind, interval, firsts),\n"
             "                                            name=f\"once:{source.name}:{kind}\")\n"
             "                          for kind, interval in self._intervals.items()]\n",
             "                for kind, interval in self._intervals.items():\n"
             "                    tasks.append(asyncio.get_running_loop().create_future())\n"
             "                    tasks[-1].set_result(await self._once(source, kind, interval, firsts))\n",
             breaks="--once takes the sum of every exchange's time instead of the slowest",
             tests=T_SCHEDULER),
    # --- health rules ----------------------------------------------------------------------
    mutation("health.one_open_breaker_is_failing", HEALTH,
             'all(ex.get("breaker") == "open" for ex in exchanges.values())',
             'any(ex.get("breaker") == "open" for ex in exchanges.values())',
             breaks="one exchange down pages the on-call as if nothing worked", tests=T_HEALTH),
    mutation("health.every_sink_down_is_not_failing", HEALTH,
             'if sinks and all(sink.get("state") == "down" for sink in sinks.values()):', "if False:",
             breaks="/health says 200 while no record can be written anywhere", tests=T_HEALTH),
    mutation("health.no_start_up_grace", HEALTH,
             "if uptime_s < window:", "if False:",
             breaks="a daemon that just started is reported failing", tests=T_HEALTH),
    mutation("health.silence_window_from_the_longest_interval", HEALTH,
             "window = SILENCE_INTERVALS * min(intervals)", "window = SILENCE_INTERVALS * max(intervals)",
             breaks="a silent daemon is noticed only after 3 funding intervals (15 min)", tests=T_HEALTH),
    mutation("health.failing_answers_200", HEALTH,
             "return document, 503 if status == FAILING else 200", "return document, 200",
             breaks="a load balancer / monitor polling the status code never sees the failure",
             tests=T_HEALTH),
    mutation("health.spooling_sink_is_ok", HEALTH,
             '_SINK_OK_STATES = frozenset({"ok", "connecting"})',
             '_SINK_OK_STATES = frozenset({"ok", "connecting", "down"})',
             breaks="a sink that is down (its records wait in the journal) shows as healthy",
             tests=T_HEALTH),
    mutation("health.failed_polls_not_degraded", HEALTH,
             "    if failures > 0:\n", "    if False:\n",
             breaks="an exchange failing every poll (breaker still closed) shows as healthy",
             tests=T_HEALTH),
    # --- systemd ---------------------------------------------------------------------------
    mutation("systemd.watchdog_pinged_once_per_period", SYSTEMD,
             "period = int(usec) / 2 / 1_000_000", "period = int(usec) / 1_000_000",
             breaks="systemd kills a healthy daemon when a ping arrives a little late", tests=T_SYSTEMD),
    mutation("systemd.watchdog_pinged_for_another_pid", SYSTEMD,
             "if not usec or (watchdog_pid and watchdog_pid != str(pid)):", "if not usec:",
             breaks="a child process pings the watchdog meant for its parent", tests=T_SYSTEMD),
    mutation("systemd.status_newlines_inject_fields", SYSTEMD,
             'return " ".join(text.splitlines())', "return text",
             breaks="a status text with a newline sends READY=1 or other fields", tests=T_SYSTEMD),
    # --- exchanges: markets and polling ----------------------------------------------------
    mutation("market_selection.inverse_swaps_collected", MARKET_SELECTION,
             'and market.get("settle") == market.get("quote")', "and True",
             breaks="coin-settled (inverse) swaps are collected as if linear", tests=T_MARKET_SELECTION),
    mutation("market_selection.inactive_markets_collected", MARKET_SELECTION,
             'and market.get("active") is not False', "and True",
             breaks="delisted markets are still polled", tests=T_MARKET_SELECTION),
    mutation("market_selection.configured_symbols_ignored", MARKET_SELECTION,
             "return listed.intersection(configured) if configured else listed", "return listed",
             breaks="exchange_configs.<name>.symbols is ignored: every market is collected", tests=T_MARKET_SELECTION),
    mutation("market_selection.ccxt_options_lose_to_the_defaults", MARKET_SELECTION,
             "return deep_merge(built, config.ccxt_options)", "return deep_merge(config.ccxt_options, built)",
             breaks="ccxt_options (urls, proxies, options) cannot override the built-in config",
             tests=T_MARKET_SELECTION),
    mutation("market_selection.merge_is_shallow", MARKET_SELECTION,
             "if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):", "if False:",
             breaks="one option in ccxt_options.options wipes the linear-swap defaults", tests=T_MARKET_SELECTION),
    mutation("kind_state.rate_limit_reported_as_unavailable", KIND_STATE,
             "if isinstance(err, RATE_LIMITED):", "if False:",
             breaks="a 429 is logged EXCHANGE_001 instead of EXCHANGE_003", tests=T_KIND_STATE),
    mutation("kind_state.auth_errors_retried", KIND_STATE,
             "return isinstance(err, ccxt_errors.OperationFailed)", "return True",
             breaks="an authentication error is retried", tests=T_KIND_STATE),
    mutation("kind_state.retry_after_header_case_sensitive", KIND_STATE,
             'if key.lower() == "retry-after":', 'if key == "Retry-After":',
             breaks="a lower-case retry-after header (aiohttp, HTTP/2) is ignored", tests=T_KIND_STATE),
    mutation("kind_state.failure_logged_on_every_poll", KIND_STATE,
             "if code == self.failing:", "if False:",
             breaks="an outage writes one warning per poll instead of one per change", tests=T_KIND_STATE),
    mutation("kind_state.recovery_not_logged", KIND_STATE,
             "if self.failing is not None or self.crashing:", "if False:",
             breaks="the log never says an exchange recovered", tests=T_KIND_STATE),
    mutation("kind_state.unchanged_records_emitted_again", KIND_STATE,
             "if cache is not None and cache.get(key) is not None:", "if False:",
             breaks="the same ticker is written on every poll while the exchange's data stands still",
             tests=T_KIND_STATE),
    # --- summary, checks, app, sink schema --------------------------------------------------
    mutation("summary.api_key_printed", SUMMARY,
             'keys = [f"{field} {mask_value(getattr(exchange, field))}"',
             'keys = [f"{field} {getattr(exchange, field).get_secret_value()}"',
             breaks="--validate-config prints an exchange's API key", tests=T_SUMMARY),
    mutation("summary.rabbitmq_password_printed", SUMMARY,
             "amqp://{section.username}:{mask_value(section.password)}@",
             "amqp://{section.username}:{section.password.get_secret_value()}@",
             breaks="--validate-config prints the RabbitMQ password", tests=T_SUMMARY),
    mutation("checks.a_fail_line_exits_0", CHECKS,
             "return 0 if failed == 0 else 1", "return 0",
             breaks="--check-deps exits 0 although a check failed", tests=T_CHECKS),
    mutation("checks.a_timeout_hides_the_limit", CHECKS,
             'return Check(name, False, f"no answer within {timeout:g}s")',
             'return Check(name, False, "timed out")',
             breaks="a FAIL line for a hung server does not say how long it waited", tests=T_CHECKS),
    mutation("enabled_sinks.disabled_sink_is_built", ENABLED_SINKS,
             "if config.rabbitmq.enabled:", "if True:",
             breaks="a disabled RabbitMQ sink is connected to anyway", tests=T_APP),
    mutation("app.status_line_counts_nothing", APP,
             "collected = self.pipeline.accepted if self.pipeline else 0", "collected = 0",
             breaks="systemctl status always says 0 records collected", tests=T_APP),
    mutation("sinks_base.funding_rate_column_nullable", SINK_BASE,
             'required = {*KEY_FIELDS, "funding_rate"} if kind in RATE_REQUIRED else set(KEY_FIELDS)',
             "required = set(KEY_FIELDS)",
             breaks="a funding rate row without a rate can be stored", tests=T_SINK_BASE),
    # --- journal and writer ----------------------------------------------------------------
    mutation("journal.torn_tail_kept", SEGMENTS,
             "            file.truncate(found.valid_bytes)\n", "            pass\n",
             breaks="a write cut short by a crash stays in the segment and is reported again at every start",
             tests=T_JOURNAL),
    mutation("journal.checksum_not_verified", FRAMES,
             "    if zlib.crc32(data[offset + HEADER.size:end], zlib.crc32(checked)) != crc:\n        return None\n",
             "    if False:\n        return None\n",
             breaks="a damaged frame whose bytes still parse reaches the sinks with wrong prices",
             tests=T_JOURNAL),
    mutation("journal.damaged_frame_shipped_as_written", SEGMENTS,
             "        if checked is None or checked.first_seq != frame.first_seq or checked.count != frame.count:",
             "        if False:",
             breaks="a frame damaged on disk reaches the archive writer process as it is: wrong prices archived",
             tests=T_JOURNAL + "::test_frames_read_as_written_leave_out_a_damaged_frame_and_count_its_records"),
    mutation("journal.segment_deleted_before_every_sink_passed_it", RETENTION,
             "done = min(cursors.values())", "done = max(cursors.values())",
             breaks="a sink that is behind loses records once the fastest sink has written them",
             tests=T_JOURNAL),
    mutation("journal.full_journal_grows_without_bound", RETENTION,
             "while self._index.bytes > self.max_bytes and len(segments) > 1:", "while False:",
             breaks="a sink down for days fills the disk past spool_max_bytes", tests=T_JOURNAL),
    mutation("journal.full_journal_counts_records_a_writer_holds", RETENTION,
             "held = max(cursor, reader.held_until()) if reader is not None else cursor", "held = cursor",
             breaks="journal_full reports records dropped for a sink that already held them and wrote them",
             tests=(T_JOURNAL, T_JOURNAL_FULL)),
    mutation("journal.full_journal_counts_records_a_sink_is_reading", RETENTION,
             "return max(held, self._reading.get(name, held))", "return held",
             breaks="records a catching-up sink was reading when the full journal deleted their "
                    "segment are counted twice", tests=T_JOURNAL),
    mutation("writer.down_sink_lets_go_of_records_the_full_journal_dropped", WRITER,
             "            if first_seq >= oldest:\n                break\n",
             "            break\n",
             breaks="a sink that goes down while its writer holds records a full journal dropped never "
                    "gets them, and they are not counted", tests=T_WRITER),
    mutation("writer.stop_forgets_held_records_the_full_journal_dropped", WRITER,
             "        self._journal.lost(self.name, self._held_and_gone())\n", "",
             breaks="records a down sink held at a stop, already gone from a full journal, are lost "
                    "without being counted", tests=T_WRITER),
    mutation("journal.settlements_not_kept_across_a_restart", JOURNAL,
             "            await self._save_settled()\n", "            pass\n",
             breaks="every restart fetches and publishes the whole settled funding window again",
             tests=T_JOURNAL),
    mutation("journal.newest_settlement_moves_back", SETTLED,
             "if record.ts > symbols.get(record.symbol, -1):", "if True:",
             breaks="an older settlement journaled later makes the next start fetch and publish again "
                    "what is journaled", tests=T_JOURNAL),
    mutation("settlements.restart_ignores_the_journaled_settlements", SOURCE,
             "SettlementLedger(int(funding_history_days * DAY_MS), dict(settled or {}))",
             "SettlementLedger(int(funding_history_days * DAY_MS))",
             breaks="a restart re-sends every settlement of the window; ClickHouse then keeps other "
                    "received_at values than PostgreSQL and SQLite", tests=T_SETTLED_RESTART),
    mutation("app.sources_not_given_the_journaled_settlements", APP,
             "settled=self.journal.settled(name), shard=", "settled=None, shard=",
             breaks="the daemon's restart fetches settled funding from the window's start and publishes it again",
             tests=T_SETTLED_DAEMON),
    mutation("writer.cursor_committed_before_the_sink_confirmed", WRITER,
             "        if await self._delivery.deliver(self._batch.records):\n"
             "            self._journal.commit(self.name, self._batch.end_seq)\n",
             "        self._journal.commit(self.name, self._batch.end_seq)\n"
             "        if await self._delivery.deliver(self._batch.records):\n",
             breaks="records a sink never confirmed are skipped after a restart", tests=T_WRITER),
    mutation("writer.lagging_threshold_ignored", WRITER,
             "if lag > self.lag_threshold:", "if lag > 0:",
             breaks="/health says lagging (degraded) whenever one record waits, not past the threshold",
             tests=T_WRITER),
    # --- the poll path's data (issue 27, items 7, 8, 10) -----------------------------------
    mutation("scheduler.tickers_do_not_wait_for_the_open_interest", SCHEDULER,
             'feeder = firsts.get(_FED_BY.get(kind, ""))', "feeder = None",
             breaks="--once (and the first minute after a start) stores binance tickers without open interest",
             tests=(T_SCHEDULER, T_ONCE_OPEN_INTEREST)),
    mutation("normalize.okx_open_interest_in_contracts", NORMALIZE,
             "            amount = self._contracts_in_base(entry)\n",
             '            amount = number(entry.get("openInterestAmount"))\n',
             breaks="okx open interest without oiCcy is stored in contracts, 100x too high for BTC",
             tests=(T_NORMALIZE, T_OKX_OPEN_INTEREST)),
    mutation("parts.a_rejected_symbol_fails_the_whole_round", PARTS,
             "            except ccxt_errors.BadSymbol:\n                rejected.append(symbol)\n",
             "            except ccxt_errors.BadSymbol:\n                raise ccxt_errors.ExchangeError(symbol)\n",
             breaks="one symbol the open-interest endpoint rejects leaves every symbol without a fresh figure",
             tests=T_REJECTED_SYMBOL),
    mutation("parts.rejections_neither_counted_nor_logged", PARTS,
             "    rejections.settle(endpoint, symbols, rejected, results)\n", "",
             breaks="a rejected symbol's empty open interest has no metric and no log line",
             tests=T_REJECTED_SYMBOL),
    mutation("rejections.logged_every_round", REJECTIONS,
             "new = set(rejected) - current", "new = set(rejected)",
             breaks="a symbol one endpoint keeps rejecting logs a warning every poll, not once",
             tests=(T_REJECTIONS, T_REJECTED_SYMBOL)),
    mutation("source.rejected_open_interest_keeps_the_last_figure", SOURCE,
             "self._open_interest = dict(entries[0][1][0])", "self._open_interest.update(entries[0][1][0])",
             breaks="a symbol whose open interest is rejected keeps showing its last figure as current",
             tests=T_REJECTED_SYMBOL),
    # --- RabbitMQ: declared queues, unroutable records, failover, --validate-config --online ---
    mutation("rabbitmq.published_without_mandatory", AMQP_WIRE,
             "routing_key=key, mandatory=True)", "routing_key=key, mandatory=False)",
             breaks="a record no queue binds is confirmed and dropped by the broker, lost for every reader",
             tests=T_MQ_HOLD),
    mutation("rabbitmq.hold_lets_returned_records_go", UNROUTABLE,
             'if self.policy == "count":\n            return', "if True:\n            return",
             breaks="with unroutable: hold, records no queue binds leave the journal anyway", tests=T_MQ_HOLD),
    mutation("rabbitmq.held_batch_reported_as_an_outage", DELIVERY,
             "            self._on_held(err)\n", "            self._on_failure(err)\n",
             breaks="a missing binding is logged as the broker being down (sink_down, breaker)", tests=T_MQ_HOLD),
    mutation("rabbitmq.held_after_an_outage_stays_down", DELIVERY,
             "        if self.down:\n            self.failures = 0\n            self._mark_up()\n", "",
             breaks="a broker back from an outage that holds a batch still shows down, paced by the breaker",
             tests=T_WRITER + "::test_a_held_batch_stays_in_the_journal_without_an_outage_and_a_sink_that_answers_again_is_up"),
    mutation("rabbitmq.configured_queues_not_declared", MQ_TOPOLOGY,
             "    for queue in config.queues:\n        await _queue(channel, queue, exchange)\n",
             "    for queue in config.queues:\n        pass\n",
             breaks="the quorum queue and stream of the config never exist; records wait for nobody",
             tests=T_MQ_DECLARED),
    mutation("rabbitmq.conflicting_queue_accepted_silently", MQ_TOPOLOGY,
             '        raise conflict("queue", queue.name, err) from None\n    for key',
             "        return\n    for key",
             breaks="a queue that exists with other arguments is not reported (MQ_002)", tests=T_MQ_002),
    mutation("rabbitmq.no_failover_to_the_next_host", MQ_SINK,
             "if connection is None or len(self._config.nodes) == 1 or connection.connected.is_set():",
             "if True:",
             breaks="with rabbitmq.hosts, a dead node is waited for instead of the next one used",
             tests=T_MQ_FAILOVER),
    mutation("rabbitmq.misconfigured_sink_exits_0", APP,
             "                raise writer.misconfigured", "                pass",
             breaks="a queue with other arguments (MQ_002) does not stop the start with exit 1",
             tests=T_MQ_002_EXIT),
    mutation("rabbitmq.online_fail_exits_0", ENTRY,
             "return EXIT_OK if all(check.ok for check in checks) else EXIT_ERROR", "return EXIT_OK",
             breaks="--validate-config --online exits 0 although a sink FAILed", tests=T_MQ_002_EXIT),
    mutation("rabbitmq.online_check_creates_the_queues", MQ_SINK,
             "await self.open(declare=False)", "await self.open()",
             breaks="--validate-config --online creates the queues it should only check", tests=T_MQ_ONLINE),
    mutation("writer.lagging_never_reported", WRITER,
             "if lag > self.lag_threshold:", "if False:",
             breaks="a stalled sink whose records wait for minutes shows as ok", tests=T_WRITER),
    # --- observations: what lands (the field-by-field ones are FIELD_MUTATIONS) -------------
    mutation("observations.stream_drops_new_values_at_an_unmoved_time", OBSERVATIONS,
             "            ts = landing_ts(seen, record)\n", "            ts = None\n",
             breaks="a streamed update whose values changed while the exchange time stood still is dropped",
             tests=T_OBSERVATIONS),
    mutation("observations.stream_drops_new_values_at_an_unmoved_time_end_to_end", OBSERVATIONS,
             "            ts = landing_ts(seen, record)\n", "            ts = None\n",
             breaks="through ccxt pro: an open interest moving under bybit's unmoved frame time is never recorded",
             tests=T_STREAM_OBSERVATIONS),
    mutation("observations.stream_lands_new_values_under_the_unmoved_time", OBSERVATIONS,
             'record = record.replaced({"ts": ts})  # new values take their receive time', "pass",
             breaks="a streamed update with new values under an unmoved exchange time takes the last "
                    "observation's identity: every sink keeps the old row and drops the new values",
             tests=T_OBSERVATIONS),
    mutation("observations.unmoved_time_keeps_the_exchange_time", OBSERVATIONS,
             "return record.ts if record.ts > last.ts else max(record.received_at, last.ts + 1)",
             "return record.ts",
             breaks="new values under an unmoved exchange time reuse the last identity: sinks keep the old row",
             tests=T_OBSERVATIONS),
    *FIELD_MUTATIONS,
    # the same blind spots, at the sink: a daemon storing into SQLite
    replace(ignoring("poll", "ticker", "open_interest"), name="observations.daemon_stores_no_open_interest_move",
            breaks="an illiquid symbol whose open interest alone moves keeps its first row only in SQLite",
            tests=(T_ONE_FIELD_MOVES + "[open_interest-tickers-open_interest]",)),
    replace(ignoring("poll", "funding_rate", "funding_rate"), name="observations.daemon_stores_no_funding_rate_move",
            breaks="a symbol whose funding rate alone moves keeps its first funding row only in SQLite",
            tests=(T_ONE_FIELD_MOVES + "[funding_rate-funding_rates-funding_rate]",)),
    # --- native venue decoders (each differs from ccxt's reading of the same JSON) ----------------
    mutation("venues.binance_bid_and_ask_swapped", VENUE_BINANCE,
             'return _time(row), {"bid": nonzero(row.get("bidPrice")), "ask": nonzero(row.get("askPrice"))}',
             'return _time(row), {"bid": nonzero(row.get("askPrice")), "ask": nonzero(row.get("bidPrice"))}',
             breaks="binance tickers store the ask as the bid and the bid as the ask", tests=T_VENUES),
    mutation("venues.binance_ticker_ts_from_the_open_not_the_close", VENUE_BINANCE,
             'found = integer(row.get("closeTime"))', 'found = integer(row.get("openTime"))',
             breaks="binance tickers carry the 24 h window's start as their time", tests=T_VENUES),
    mutation("venues.bybit_funding_ts_from_the_next_funding_time", VENUE_BYBIT,
             "return integer(snapshot_time), {", 'return integer(get("nextFundingTime")), {',
             breaks="bybit funding rates carry the next funding time as their identity", tests=T_VENUES),
    mutation("venues.bybit_open_interest_read_as_its_value", VENUE_BYBIT,
             '"open_interest": number(open_interest)', '"open_interest": number(get("openInterestValue"))',
             breaks="bybit open interest is stored in USDT, not in the base currency", tests=T_VENUES),
    mutation("venues.okx_base_volume_in_contracts", VENUE_OKX,
             '"base_volume_24h": number(get("volCcy24h"))', '"base_volume_24h": number(get("vol24h"))',
             breaks="okx 24 h volume is stored in contracts, not in the base currency", tests=T_VENUES),
    mutation("venues.okx_open_interest_in_contracts", VENUE_OKX,
             "amount = contracts * contract_size if contracts is not None and contract_size else None",
             "amount = contracts",
             breaks="okx open interest without oiCcy is stored in contracts", tests=T_VENUES),
    mutation("venues.binance_frame_funding_rate_from_the_settle_price", VENUE_BINANCE,
             'rate = number(get("r"))', 'rate = number(get("P"))',
             breaks="binance streamed funding rates store the estimated settle price as the rate",
             tests=T_VENUE_FRAMES),
    mutation("venues.bybit_frame_ts_from_the_row_not_the_frame", VENUE_BYBIT,
             "return (ts if frame_ts is None else frame_ts), values", "return ts, values",
             breaks="bybit streamed tickers get the receive time as identity, not the exchange's",
             tests=T_VENUE_FRAMES),
    mutation("venues.binance_plain_row_high_and_low_swapped", VENUE_BINANCE,
             "last, _, _, _, high, low, base, quote = floats", "last, _, _, _, low, high, base, quote = floats",
             breaks="binance's usual 24 h ticker rows store the 24 h low as the high", tests=T_VENUES),
    mutation("venues.bybit_plain_row_bid_and_ask_swapped", VENUE_BYBIT,
             "last, _, _, base, quote, bid, ask, mark,", "last, _, _, base, quote, ask, bid, mark,",
             breaks="bybit's usual ticker rows store the ask as the bid", tests=T_VENUES),
    mutation("venues.okx_plain_row_base_volume_in_contracts", VENUE_OKX,
             "last, _, bid, ask, high, low, _, base = floats", "last, _, bid, ask, high, low, base, _ = floats",
             breaks="okx's usual ticker rows store the 24 h volume in contracts", tests=T_VENUES),
    mutation("venues.plain_row_nan_stored", VENUE_PARSE,
             "return floats if total - total == 0.0 else None", "return floats",
             breaks="a NaN in a venue's otherwise usual row is stored instead of the record skipped",
             tests=T_VENUES),
    mutation("venues.zero_price_stored", VENUE_PARSE,
             "return None if parsed == 0.0 else parsed", "return parsed",
             breaks="a venue's 0 bid or last (no price) is stored as a price of 0", tests=T_VENUES),
    mutation("venues.close_reads_text_precise_refuses", VENUE_PARSE,
             "        if string is not None and _PLAIN(string) is None:\n            break\n",
             "        pass\n",
             breaks="a ticker whose last, open, change or volume text ccxt refuses (its whole parse fails) "
                    "is stored by the native decoders instead", tests=T_VENUES + (T_VENUE_FRAMES,)),
    mutation("venues.nan_stored", VENUE_PARSE,
             "    if parsed - parsed != 0.0:\n        raise MalformedEntry(f\"not a finite number: {value!r}\")\n    return parsed",
             "    return parsed",
             breaks="a venue's NaN is stored (and refused by every sink) instead of the record skipped",
             tests=T_VENUES),
    # --- the native stream connection ----------------------------------------------------------
    mutation("native_stream.pings_not_sent", NATIVE_STREAM,
             "                if self._wire.ping is not None:\n",
             "                if False:\n",
             breaks="bybit and okx drop every native connection after their ping timeout (10 min, 30 s): "
                    "the stream reconnects again and again", tests=T_NATIVE_PINGS),
    mutation("native_stream.server_pings_not_answered", NATIVE_STREAM,
             "http.ws_connect(self._url, autoping=True,", "http.ws_connect(self._url, autoping=False,",
             breaks="binance drops every native connection at its first unanswered ping",
             tests=T_NATIVE_SERVER_PINGS),
    mutation("native_stream.conflation_window_of_the_arrival", NATIVE_STREAM,
             "gate.offer(ident[0], ident[1], symbol, frame, arrived)", "gate.offer(ident[0], None, symbol, frame, arrived)",
             breaks="native conflation windows follow this process's receive times, not the exchange's clock: "
                    "replicas (and the ccxt decoder) keep different updates", tests=T_NATIVE_SAME),
    mutation("native_stream.fill_read_once_per_symbol", NATIVE_DIALECTS,
             "values = entry[fields] = {f: decoded.get(f) for f in fields}",
             'values = entry[fields] = read.__dict__.setdefault(entry["symbol"], {f: decoded.get(f) for f in fields})',
             breaks="native tickers keep the first bid/ask or mark price their symbol's filling stream gave "
                    "(the fill's values kept per symbol, not per entry)",
             tests=(T_VENUE_FRAMES + "::test_native_fills_read_each_entry_s_own_values_as_ccxt_pro_reads_its_frame",)),
    mutation("native_stream.bad_frame_stops_the_stream", NATIVE_STREAM,
             "        except FRAME_ERRORS as err:  # orjson's JSONDecodeError is a ValueError\n            self.bad(err)\n",
             "        except FRAME_ERRORS:\n            raise\n",
             breaks="one truncated or odd frame ends the native connection (a reconnect, a traceback)",
             tests=T_NATIVE_BAD_FRAME),
    mutation("native_plans.swaps_kept_after_a_reload", "collector/exchanges/source.py",
             "        forget_swaps(self.exchange)\n", "",
             breaks="a streaming exchange with the native decoder keeps a whole old generation of markets alive "
                    "after each reload (its REST swaps table is rebuilt only at the next native poll)",
             tests=("tests/integration/test_streaming_faults.py::"
                    "test_a_symbol_listed_while_streaming_is_streamed_without_a_restart_or_a_fallback[native-binance]",)),
    mutation("response_cache.read_only_reader_gets_a_copy", "collector/resilience/response_cache.py",
             "        if shared:\n            return stored\n", "",
             breaks="every native poll copies the cached bodies it only reads (a tenth of its CPU per record)",
             tests=("tests/unit/resilience/test_response_cache.py",)),
    mutation("response_cache.read_only_fetch_kept_as_a_copy", "collector/resilience/response_cache.py",
             "stored = response if shared else copy_json(response)", "stored = copy_json(response)",
             breaks="every body a native poll fetches is copied into the cache though nobody changes it",
             tests=("tests/unit/resilience/test_response_cache.py",)),
    mutation("response_cache.read_only_shares_what_a_copying_caller_got", "collector/resilience/response_cache.py",
             "return response, self._store(key, response, shared)", "return response, self._store(key, response, True)",
             breaks="a native decoder reads a body a ccxt parser of the same exchange changed",
             tests=("tests/unit/resilience/test_response_cache.py",)),
    mutation("config.native_decoder_on_every_exchange", CONFIG,
             "native = ccxt_id in NATIVE_DECODER_IDS", "native = True",
             breaks="gate or bitget default to a native decoder that does not exist",
             tests=T_DECODER_CONFIG),
    # --- the Parquet archive ---------------------------------------------------------------
    mutation("archive.full_journal_counts_what_the_archive_holds", ARCHIVE_SINK,
             "        return held if queued is None else max(held, queued)\n", "        return self._next_seq\n",
             breaks="a full journal counts as dropped the open part's records the archive then writes",
             tests=T_ARCHIVE + "::test_a_full_journal_counts_nothing_the_archive_holds_and_exactly_what_a_failed_part_forgets"),
    mutation("archive.forgotten_part_not_counted", ARCHIVE_SINK,
             "        self._journal.lost(self.name, self._held_and_gone())\n        await self._ranges.forget_open_part(err)\n",
             "        await self._ranges.forget_open_part(err)\n",
             breaks="records of a failed part that the full journal no longer has are lost without a count",
             tests=T_ARCHIVE + "::test_a_full_journal_counts_nothing_the_archive_holds_and_exactly_what_a_failed_part_forgets"),
    mutation("archive.part_passes_max_part_records", ARCHIVE_RANGES,
             "        read = read.until(self.next_seq + self._config.max_part_records)\n", "",
             breaks="a part read back from the journal holds more than max_part_records, and more than its name says",
             tests=T_ARCHIVE + "::test_a_part_is_closed_at_max_part_records[from_disk]"),
    mutation("archive.live_part_passes_max_part_records", "collector/sinks/parquet/offers.py",
             "if frame_end > limit:", "if False:",
             breaks="a part filled from live records holds more than max_part_records, and more than its name says",
             tests=T_ARCHIVE + "::test_a_part_is_closed_at_max_part_records[live]"),
    mutation("archive.live_offers_dropped_during_a_conversion", ARCHIVE_RANGES,
             "        self.filled_to = read.end_seq\n        await self.process.add(self.next_seq, read)\n",
             "        await self.process.add(self.next_seq, read)\n        self.filled_to = read.end_seq\n",
             breaks="a caught-up archive rereads every record from the journal on disk: a third of the rate",
             tests=T_ARCHIVE + "::test_a_caught_up_writer_converts_live_records_without_reading_the_journal_back"),
    mutation("archive.pending_range_forgotten_at_restart", ARCHIVE_RANGES,
             "self.pending = saved.pending if saved.pending and saved.pending[0] >= self.next_seq else None",
             "self.pending = None",
             breaks="after kill -9 mid-part a restart writes a differently named part beside the first: rows twice",
             tests=T_ARCHIVE + "::test_restart_rewrites_a_pending_range_onto_the_same_names"),
    mutation("archive.restart_trusts_the_lagging_journal_cursor", ARCHIVE_RANGES,
             "self.next_seq = self.filled_to = max(start, saved.next_seq)",
             "self.next_seq = self.filled_to = start",
             breaks="after kill -9 a part already archived is archived again under another name",
             tests=T_ARCHIVE + "::test_restart_continues_after_a_range_the_journal_cursor_missed"),
    mutation("archive.stray_temporary_files_kept", ARCHIVE_LAYOUT,
             'if name.startswith(".") and name.endswith(".tmp"):', "if False:",
             breaks="half-written parts left by a crash pile up in the archive",
             tests=T_ARCHIVE + "::test_restart_rewrites_a_pending_range_onto_the_same_names"),
    mutation("archive.duplicate_identities_kept", ARCHIVE_TABLES,
             "new[1:] = (ranks[1:] != ranks[:-1]) | (times[1:] != times[:-1])", "new[1:] = True",
             breaks="a record journaled twice (replay, backfill) is twice in a part and in the compacted day",
             tests=(T_ARCHIVE + "::test_archive_holds_every_record_once_readable_by_pyarrow_and_duckdb",
                    T_ARCHIVE + "::test_a_finished_day_is_compacted_into_one_sorted_file_without_duplicates")),
    mutation("archive.older_journal_rows_not_padded", ARCHIVE_TABLES,
             "    if min(map(len, rows)) < width:", "    if False:",
             breaks="after an upgrade that gave a record type a field, the journal's older frames cannot be archived",
             tests=T_ARCHIVE + "::test_a_journal_written_before_a_record_type_gained_a_field_is_archived_with_it_empty"),
    mutation("archive.row_group_written_behind_failure_swallowed", "collector/sinks/parquet/parts.py",
             "            writing.result()\n", "            pass\n",
             breaks="a row group the disk refused while written behind leaves a part short of rows",
             tests=T_ARCHIVE + "::test_a_full_disk_met_by_a_row_group_written_behind_fails_the_part_and_loses_nothing"),
    mutation("archive.rows_not_sorted", ARCHIVE_TABLES,
             "order = np.lexsort((ts, symbol_rank))", "order = np.arange(len(ts))",
             breaks="rows come in journal order, not by (symbol, ts): readers' range filters scan everything",
             tests=T_ARCHIVE + "::test_rows_of_a_part_are_sorted_by_symbol_then_ts"),
    mutation("archive.compaction_drops_the_compacted_day", ARCHIVE_COMPACTION,
             "sources = ([day_dir / COMPACTED] if (day_dir / COMPACTED).exists() else []) + parts_of(day_dir)",
             "sources = parts_of(day_dir)",
             breaks="compacting late records replaces the whole day with them: the day's data is gone",
             tests=T_ARCHIVE + "::test_late_records_go_beside_data_parquet_and_merge_at_the_next_compaction"),
    mutation("archive.failure_logged_on_every_retry", ARCHIVE_SINK,
             "if self._failures == 0 or reason != self.last_error:", "if True:",
             breaks="a full disk floods the log with one ARCHIVE_001 line per retry",
             tests=T_ARCHIVE + "::test_a_bad_path_is_one_archive_001_line_and_the_records_wait"),
    mutation("archive.writer_process_outlives_the_daemon", "collector/sinks/parquet/process.py",
             "    ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)\n", "",
             breaks="after a kill -9 of the daemon its writer process lives on and may write beside the restarted "
                    "daemon's own",
             tests=T_ARCHIVE_PROCESS + "::test_the_writer_process_dies_with_a_daemon_killed_9_even_when_it_is_not_reading"),
    mutation("archive.ended_writer_process_never_replaced", "collector/sinks/parquet/writer_process.py",
             "        self._process = None\n        self._unanswered = 0\n", "        self._unanswered = 0\n",
             breaks="a writer process killed (OOM, by hand) stops the archive for good: records pile up in the journal",
             tests=T_ARCHIVE_PROCESS + "::test_a_killed_writer_process_is_one_archive_001_line_and_a_new_one_rewrites_the_part"),
    mutation("export.csv_times_in_milliseconds", EXPORT,
             "column = pc.multiply(column.cast(pa.int64()), 1000)  # tardis: microseconds",
             "column = column.cast(pa.int64())",
             breaks="CSV timestamps are milliseconds under tardis' column names, which mean microseconds",
             tests=T_ARCHIVE_EXPORT),
    # --- shards: who owns a symbol ------------------------------------------------------------
    mutation("shard.symbol_owned_by_two_shards", SHARD,
             "return self.count == 1 or owner(exchange, symbol, self.count) == self._number",
             "return self.count == 1 or owner(exchange, symbol, self.count) in "
             "(self._number, (self._number + 1) % self.count)",
             breaks="every symbol is collected by two shards: twice the requests, twice the rows to dedup",
             tests=(T_SHARD, T_SHARDS_POLL)),
    mutation("shard.bulk_rows_of_unowned_symbols_emitted", NORMALIZE,
             "        for symbol, entry in primary.items():\n            if symbol not in wanted:\n",
             "        for symbol, entry in primary.items():\n            if False:\n",
             breaks="a shard's bulk tickers answer emits every symbol's record, not only its own",
             tests=(T_SHARD_COLLECTION, T_SHARDS_POLL)),
    mutation("shard.ownership_not_applied_to_the_symbols", MARKET_WATCH,
             "wanted = frozenset(filter(self._owns, listed))", "wanted = listed",
             breaks="every shard collects every symbol, in both modes",
             tests=(T_SHARD, T_SHARDS_STREAM)),
    mutation("shard.owner_from_pythons_salted_hash", SHARD,
             'return int.from_bytes(hashlib.blake2b(key, digest_size=8).digest(), "big")',
             "return hash(key)",
             breaks="two hosts (or one after a restart) disagree on who owns a symbol",
             tests=T_SHARD),
    mutation("shard.auto_ignores_the_host_name", SHARD,
             "number = ordinal(host)", "number = 0",
             breaks="every pod of the StatefulSet is shard 0: the other shards' symbols are never collected",
             tests=(T_SHARD, "tests/unit/deploy/test_kubernetes.py")),
    mutation("shard.two_shards_share_one_journal", CONFIG,
             'update={"spool_dir": Path(f"./data/shard-{i}/spool")}', 'update={"spool_dir": batch.spool_dir}',
             breaks="two shards on one host write one journal directory",
             tests=T_SHARD),
    mutation("fleet.replicas_counted_as_two_shards", FLEET,
             "owned.update(frozenset().union(*sets))", "[owned.update(s) for s in sets]",
             breaks="--status --url ... reports a shard's replicas as symbols collected twice",
             tests="tests/unit/ops/test_status_fleet.py"),
    mutation("fleet.uncollected_symbols_not_reported", FLEET,
             "if len(owned) < listed or missing:", "if False:",
             breaks="--status --url ... says nothing of the symbols no shard collects",
             tests="tests/unit/ops/test_status_fleet.py"),
    mutation("simulator.book_ticker_sides_swapped", SIM_RENDER,
             '"b":"{bid:{p}}"', '"b":"{ask:{p}}"',
             breaks="the simulator's binance bookTicker frames carry the ask as the bid",
             tests="tests/unit/exchange_simulator/test_ws_render.py"),
    mutation("simulator.walk_prices_not_rounded", SIM_WALK,
             "return np.rint(values * scale) / scale", "return values + 0 * scale",
             breaks="the simulator keeps prices a client cannot parse back from the decimals it served",
             tests="tests/integration/test_simulator_ccxt.py"),
    mutation("simulator.bybit_deltas_repeat_unchanged_fields", SIM_RENDER,
             "if value != old else text", "if value or old else text",
             breaks="bybit's deltas, rendered for every symbol at once, carry fields that did not change",
             tests="tests/unit/exchange_simulator/test_ws_render.py"),
    mutation("simulator.feed_does_not_step_the_market", SIM_WS,
             "            state.advance()\n", "            pass\n",
             breaks="the websocket feed pushes nothing new unless a REST request steps the market",
             tests="tests/integration/test_simulator_ws_cadence.py"),
    mutation("simulator.feed_setting_ignored", SIM,
             "self._states[ex].tick = tick", "self._states[ex].tick = self._states[ex].tick",
             breaks="POST /_sim/feed answers ok and the feed keeps its pace",
             tests="tests/unit/exchange_simulator/test_control.py"),
)
