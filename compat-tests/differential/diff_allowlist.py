"""Every difference between kwire and Apache Kafka 4.4.0 that the differential
harness tolerates, each with the reason. Anything not matched here fails.

Two lists, kept apart on purpose:
- ACCEPTED: differences that are right as they are (they follow from running a
  different process, or from a Kafka feature kwire deliberately has not), each
  with why a client cannot be hurt by it.
- PENDING: real kwire bugs or gaps, known and not yet fixed. Each carries the
  issue text the fixer works from. When a fix lands the entry stops matching,
  `test_allowlist_entries_all_used` fails, and the entry is deleted — that is
  the intended way to notice a fix.

An entry matches a difference when the scenario id matches `scenario` and the
difference path matches `path` (globs where only `*` is special and matches
anything, dots and brackets included),
and, when given, kwire's / Kafka's value equals `kwire` / `kafka`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from typing import Any

from diff_compare import MISSING, Difference

ANY: Any = object()


@cache
def _glob(pattern: str) -> re.Pattern[str]:
    """Only `*` is special (any run of characters): paths are full of brackets."""
    return re.compile(".*".join(re.escape(part) for part in pattern.split("*")), re.S)


@dataclass(frozen=True)
class Allowed:
    scenario: str
    path: str
    why: str
    kwire: Any = ANY
    kafka: Any = ANY

    def matches(self, scenario_id: str, d: Difference) -> bool:
        return (_glob(self.scenario).fullmatch(scenario_id) is not None
                and _glob(self.path).fullmatch(d.path) is not None
                and (self.kwire is ANY or d.kwire == self.kwire)
                and (self.kafka is ANY or d.kafka == self.kafka))


# ------------------------------------------------------------------ ACCEPTED
# APIs Kafka 4.4.0 advertises and kwire does not implement, by why that is fine:
# kwire advertises only what works end to end (COMPAT-NOTES 3), and clients
# feature-detect each of these from ApiVersions.
_NOT_IMPLEMENTED: dict[str, tuple[int, ...]] = {
    "SASL: kwire serves PLAINTEXT listeners only": (17, 36),
    "ACLs: no authorizer, as Kafka with no authorizer.class.name": (29, 30, 31),
    "log-dir management (AlterReplicaLogDirs): replicas live in one log store, not in log "
    "dirs to move between": (34,),
    "delegation tokens, quotas, SCRAM: no SASL, no quota manager": (38, 39, 40, 41, 48, 49, 50, 51),
    "KRaft quorum, features and broker registration: kwire has no KRaft controller":
        (55, 57, 64, 80, 81),
    "ListConfigResources (KIP-1142): admin clients fall back to DescribeConfigs when it is "
    "not advertised": (74,),
    "share groups (KIP-932) and their state APIs": (76, 77, 78, 79, 83, 84, 85, 86, 87, 90, 91, 92),
    "streams groups (KIP-1071)": (88, 89),
    "APIs newer than kio 0.6.5 knows (no name in kio's index)": (93, 94),
}

ACCEPTED: list[Allowed] = [
    *(Allowed("*", f"*.api_keys[api_key={key}]", f"ApiVersions: {why}", kwire=MISSING)
      for why, keys in _NOT_IMPLEMENTED.items() for key in keys),
    # KRaft feature levels describe a KRaft metadata log kwire does not have;
    # advertising group.version or transaction.version would promise KIP-848 and
    # transactions v2, which kwire does not implement. No features is the truth.
    Allowed("*", "*.supported_features[name=*]",
            "ApiVersions: no KRaft features (metadata/kraft/group/transaction/share/streams "
            "versions) to support", kwire=MISSING),
    Allowed("*", "*.finalized_features[name=*]",
            "ApiVersions: no finalized KRaft features (see supported_features)", kwire=MISSING),
    Allowed("*", "*.finalized_features_epoch",
            "ApiVersions: no finalized features, so epoch -1 as Kafka sends without them",
            kwire=-1),
    # DescribeConfigs BROKER with no key list. kwire describes the broker configs it
    # implements; Kafka lists ~250 more (replication, controller quorum, SSL/SASL,
    # quotas, remote storage, share groups ...) that configure nothing in kwire.
    Allowed("describe_configs/*/broker_all", "*.configs[name=*]",
            "BROKER configs kwire does not have: Kafka's replication, controller, "
            "security, quota and tiered-storage settings", kwire=MISSING),
    # What the harness itself configures differently: kwire is started with
    # --port 0 and its own data dir; KafkaRefProcess writes listeners (with a
    # CONTROLLER listener), advertised.listeners and process.roles into
    # server.properties, so those are static there and defaults in kwire.
    *(Allowed("describe_configs/*/broker_all", f"*.configs[name={key}].{field}",
              f"BROKER {key}: set by the harness for Kafka, not for kwire (process setup)")
      for key, fields in (("listeners", ("value",)),
                          ("advertised.listeners", ("value", "config_source")),
                          ("process.roles", ("config_source",)),
                          ("log.dirs", ("value",)), ("log.dir", ("value",)))
      for field in fields),
    # (group.coordinator.rebalance.protocols: kwire's default is classic,consumer, Kafka's
    # classic,consumer,streams; conftest sets Kafka's list on both, so it compares equal.)
    # Kafka fills a fetch limit with the bytes of the next batch even when they end
    # mid-batch (its log slice is byte-based); the protocol allows that and every
    # client drops a truncated trailing batch. kwire stops at the last whole batch:
    # the records a client sees are the same, only fewer wasted bytes travel.
    Allowed("fetch/v12/large_batches_and_limits", "*.records[*]",
            "Fetch: Kafka's truncated trailing batch at the byte limit, which clients "
            "discard; kwire sends whole batches only", kwire=MISSING),
    # kwire's decision (commit eeaa581): Kafka's documentation prose is Kafka's to
    # write, not kwire's to copy; include_documentation answers null. Tools print
    # the documentation only for a human; nothing parses it.
    Allowed("describe_configs/*", "*.configs[name=*].documentation",
            "DescribeConfigs include_documentation: kwire does not copy Kafka's prose "
            "(null documentation)", kwire=None),
    # A Kafka bug, not a spec: Kafka 4.4 never answers an AlterConfigs that names
    # the same resource twice (the request hangs until the client times out);
    # kwire answers INVALID_REQUEST 'Each resource must appear at most once.' for
    # both entries, exactly as both brokers answer IncrementalAlterConfigs.
    Allowed("describe_configs/v4/empty_keys_and_duplicate_resources", "step3.response.*",
            "AlterConfigs with a duplicate resource: Kafka 4.4 hangs (timeout), kwire "
            "answers INVALID_REQUEST like IncrementalAlterConfigs"),
    # The root logger's level is each process's logging setup (kwire's Python
    # logging at INFO, Kafka's log4j2 file in the harness at WARN), not protocol.
    Allowed("describe_configs/*/broker_logger", "*.configs[name=root].value",
            "BROKER_LOGGER root level: set by each process's own logging configuration",
            kwire="INFO", kafka="WARN"),
    # ---- Versions kio 0.6.5 (kwire's pinned protocol library) has no schema for:
    # clients negotiate one version down (KIP-511 for ApiVersions), as with an older broker.
    Allowed("*", "*.api_keys[api_key=18].max_version",
            "ApiVersions v5 (new in Kafka 4.4) is not in kio 0.6.5; the Java client sends "
            "v5, gets UNSUPPORTED_VERSION with kwire's ranges and retries with v4.",
            kwire=4, kafka=5),
    Allowed("*", "*.api_keys[api_key=42].max_version",
            "DeleteGroups v3 (new in Kafka 4.4) is not in kio 0.6.5; clients use v2.",
            kwire=2, kafka=3),
    Allowed("*", "*.api_keys[api_key=28].max_version",
            "TxnOffsetCommit v6 is not in kio 0.6.5; clients negotiate v5.", kwire=5, kafka=6),
    # ---- Transaction version 2 (KIP-890 part 2): kwire finalizes no transaction.version,
    # so clients run transaction version 1, whose EndTxn is at most v4 (v5 returns the
    # bumped producer id and epoch of version 2).
    Allowed("*", "*.api_keys[api_key=26].max_version",
            "EndTxn v5 is transaction version 2's; kwire does not finalize transaction.version "
            "2, so clients send v4 at most.", kwire=4, kafka=5),
    # ---- SASL on a PLAINTEXT listener
    Allowed("framing/sasl_handshake_on_plaintext", "step0.response.*",
            "SaslHandshake (key 17) on a PLAINTEXT listener: Kafka answers "
            "ILLEGAL_SASL_STATE (34); kwire, which serves no SASL at all and does not "
            "advertise key 17, closes the connection as for any API it does not serve. A "
            "client configured for SASL cannot work against either broker."),
]

# ------------------------------------------------------------------ PENDING
# Known kwire differences, not yet fixed at the time of writing. Remove an entry
# when its fix lands (the harness then reports it unused).
PENDING: list[Allowed] = [
    # ---- Produce
    Allowed("produce/v9/lying_max_timestamp", "step2.*.records[0].max_timestamp",
            "Produce: a batch whose header max_timestamp (base - 5000) is below its records' "
            "timestamps is stored by Kafka with max_timestamp recomputed from the records "
            "(LogValidator, in place); kwire stores the header as sent.",
            kwire=1_699_999_995_000, kafka=1_700_000_000_000),
    Allowed("produce/v9/lying_max_timestamp", "step4.response.topics[*].partitions[*].*",
            "ListOffsets by timestamp on that batch: Kafka (recomputed max_timestamp) finds "
            "offset 0, kwire (header max_timestamp) answers -1 / no offset."),
    Allowed("produce/v9/inner_offset_deltas_wrong_gzip", "*",
            "Produce: a compressed batch whose records' offset deltas are not 0..n-1 (0, 0, 5) "
            "is refused by Kafka 4.4 (UNKNOWN_SERVER_ERROR -1 from its inner-offset check, "
            "nothing stored); kwire stores it. (The same batch uncompressed is accepted by "
            "both.)"),
    # One issue, several shapes: Kafka's LogValidator parses every record of every
    # batch (decompressing where needed); kwire checks the batch header and CRC only.
    *(Allowed(f"produce/v9/{sid}", "*",
              "Produce: a CRC-valid batch whose content is malformed is refused by Kafka "
              "after it parses every record (LogValidator): a record with key length -5 or "
              "past the end, a negative header count, bytes after the last record, fewer "
              "records than the header counts -> "
              "INVALID_RECORD (87); a compressed payload that does not decompress -> "
              "UNKNOWN_SERVER_ERROR (-1) in Kafka 4.4. kwire checks only the batch header and "
              "CRC, stores the batch (error 0) and serves it to consumers, which then fail "
              "to parse it: a poison pill.")
      for sid in ("record_key_length_negative", "record_key_length_past_end",
                  "record_header_count_negative", "trailing_bytes_inside_batch",
                  "garbage_*_payload", "fewer_records_than_counted*")),
]


def unexplained(scenario_id: str, diffs: list[Difference],
                used: set[int] | None = None) -> list[Difference]:
    """The differences no entry explains; indexes of entries that matched go to `used`."""
    entries = ACCEPTED + PENDING
    out = []
    for d in diffs:
        hit = [i for i, e in enumerate(entries) if e.matches(scenario_id, d)]
        if used is not None:
            used.update(hit)
        if not hit:
            out.append(d)
    return out


def entry(i: int) -> Allowed:
    return (ACCEPTED + PENDING)[i]


_ = MISSING
