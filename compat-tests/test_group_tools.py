"""kafka-consumer-groups (org.apache.kafka.tools.consumer.group.ConsumerGroupCommand,
Kafka 4.4.0) against the broker: --list, --describe (offsets, --members,
--members --verbose, --state), --reset-offsets --to-earliest (--dry-run,
--execute; refused while the group is active), --delete (refused while active,
then done), on a group whose member is a separate process (group_member.py).

The expected texts (columns, values, messages, exit codes) were checked against
a real Kafka 4.4.0 (`pytest compat-tests/test_group_tools.py --process-broker kafka`).
Kafka's tool exits 0 even when it prints "Error: ..." (refusals, unknown group) and
writes "Consumer group 'G' has no active members." to stderr.
"""

from __future__ import annotations

import re
import uuid
from pathlib import Path

import pytest
from groups_support import (
    GROUP_COMMAND,
    NO_COMMIT,
    GroupAdmin,
    PythonMember,
    create_topic,
    produce_now,
    wait_for,
)

pytestmark = [pytest.mark.java, pytest.mark.slow, pytest.mark.timeout(240)]

OFFSETS_HEADER = ["GROUP", "TOPIC", "PARTITION", "CURRENT-OFFSET", "LOG-END-OFFSET", "LAG",
                  "CONSUMER-ID", "HOST", "CLIENT-ID"]
MEMBERS_HEADER = ["GROUP", "CONSUMER-ID", "HOST", "CLIENT-ID", "#PARTITIONS"]
VERBOSE_HEADER = MEMBERS_HEADER + ["CURRENT-EPOCH", "CURRENT-ASSIGNMENT", "TARGET-EPOCH",
                                   "TARGET-ASSIGNMENT"]


def table(out: str, first_column: str = "GROUP") -> tuple[list[str], list[list[str]]]:
    """The header and rows of the (first) table the tool printed, split on whitespace."""
    lines = [ln for ln in out.splitlines() if ln.strip()]
    idx = next((i for i, ln in enumerate(lines) if ln.split()[0] == first_column), None)
    assert idx is not None, f"no table with a {first_column} column in:\n{out}"
    rows = []
    for ln in lines[idx + 1:]:
        if ln.startswith(("Error", "Consumer group", "\t")):
            break
        rows.append(ln.split())
    return lines[idx].split(), rows


def coordinator_column(broker, group: str, find_coordinator) -> str:  # noqa: ANN001
    """What --describe --state should print as COORDINATOR (ID): this broker, node
    1, on a single node; in a cluster (--cluster-brokers), the broker FindCoordinator
    names (the leader of the group's __consumer_offsets partition), which must be
    one of the cluster's brokers at its own address."""
    if broker.cluster is None:
        return rf"{re.escape(broker.bootstrap)}\s+\(1\)"
    node_id, address = find_coordinator(broker.bootstrap, group)
    assert broker.cluster.brokers[node_id].bootstrap == address, (node_id, address)
    return rf"{re.escape(address)}\s+\({node_id}\)"


def test_consumer_group_command(broker, kafka_tools, tmp_path: Path,  # noqa: ANN001
                                topic_name: str, find_coordinator) -> None:  # noqa: ANN001
    b = broker.bootstrap
    group = f"cg-{topic_name}"
    topic = topic_name
    client_id = f"cgc-{uuid.uuid4().hex[:8]}"
    create_topic(b, topic, 3)
    adm = GroupAdmin(b)
    produce_now(b, topic, {0: 10, 1: 20, 2: 30})

    def cgc_both(*args: str) -> tuple[str, str]:
        rc, out, err = kafka_tools.run(GROUP_COMMAND, "--bootstrap-server", b, *args, timeout=90)
        assert rc == 0, f"kafka-consumer-groups {' '.join(args)}: rc={rc}\n{out}\n{err}"
        return out, err

    def cgc(*args: str) -> str:
        out, err = cgc_both(*args)
        assert not err.strip(), f"kafka-consumer-groups {' '.join(args)}: stderr:\n{err}"
        return out

    def listed() -> dict[str, str]:
        header, rows = table(cgc("--list", "--state"))
        assert header == ["GROUP", "STATE"], header
        return {r[0]: r[1] for r in rows}

    # A live member owning the 3 partitions, having committed everything (lag 0).
    member = PythonMember("confluent-kafka", "M", client_id, tmp_path, b, topic, group,
                          commit_interval=0)
    try:
        wait_for(lambda: adm.committed(group, topic, range(3)) == {0: 10, 1: 20, 2: 30},
                 60, "the member to commit 10/20/30", 0.3, detail=member.tail)
        desc = adm.describe(group)
        assert desc["group_state"] == "Stable", desc
        (mem,) = desc["members"]
        member_id = mem["member_id"]
        assert re.fullmatch(rf"{client_id}-[0-9a-f]{{8}}(-[0-9a-f]{{4}}){{3}}-[0-9a-f]{{12}}",
                            member_id), member_id

        assert group in cgc("--list").split()
        assert listed().get(group) == "Stable"

        header, rows = table(cgc("--describe", "--group", group))
        assert header == OFFSETS_HEADER
        got = {tuple(r) for r in rows}
        assert got == {(group, topic, str(p), str(n), str(n), "0", member_id, "/127.0.0.1",
                        client_id) for p, n in ((0, 10), (1, 20), (2, 30))}, rows

        header, rows = table(cgc("--describe", "--group", group, "--members"))
        assert header == MEMBERS_HEADER
        assert rows == [[group, member_id, "/127.0.0.1", client_id, "3"]], rows

        header, rows = table(cgc("--describe", "--group", group, "--members", "--verbose"))
        assert header == VERBOSE_HEADER
        assert rows == [[group, member_id, "/127.0.0.1", client_id, "3", "-", f"{topic}:0,1,2",
                         "-", "-"]], rows

        out = cgc("--describe", "--group", group, "--state")
        assert re.search(r"^GROUP\s+COORDINATOR \(ID\)\s+ASSIGNMENT-STRATEGY\s+STATE\s+"
                         r"#MEMBERS\s*$", out, re.M), out
        coordinator = coordinator_column(broker, group, find_coordinator)
        assert re.search(rf"^{re.escape(group)}\s+{coordinator}\s+range\s+Stable\s+1\s*$",
                         out, re.M), out

        # Refused while the group has a member; nothing changes.
        out = cgc("--reset-offsets", "--group", group, "--topic", topic, "--to-earliest",
                  "--execute")
        assert (f"Error: Assignments can only be reset if the group '{group}' is inactive, "
                f"but the current state is Stable.") in out, out
        assert adm.committed(group, topic, range(3)) == {0: 10, 1: 20, 2: 30}
        out = cgc("--delete", "--group", group)
        assert ("Error: Deletion of some consumer groups failed:\n"
                f"* Group '{group}' could not be deleted due to: "
                "org.apache.kafka.common.errors.GroupNotEmptyException: "
                "The group is not empty.") in out, out

        member.terminate()  # commits, LeaveGroup: the group is Empty at once
        assert member.wait(30) == 0, member.tail()
    finally:
        member.close()

    produce_now(b, topic, {1: 7}, "late")  # lag 7 on partition 1
    no_members = f"Consumer group '{group}' has no active members."
    out, err = cgc_both("--describe", "--group", group)
    assert err.strip() == no_members, err
    header, rows = table(out)
    assert header == OFFSETS_HEADER
    assert {tuple(r) for r in rows} == {
        (group, topic, "0", "10", "10", "0", "-", "-", "-"),
        (group, topic, "1", "20", "27", "7", "-", "-", "-"),
        (group, topic, "2", "30", "30", "0", "-", "-", "-")}, out
    for extra in ((), ("--verbose",)):
        out, err = cgc_both("--describe", "--group", group, "--members", *extra)
        assert err.strip() == no_members, err
        header, rows = table(out)
        assert (header, rows) == (VERBOSE_HEADER if extra else MEMBERS_HEADER, []), out
    out, err = cgc_both("--describe", "--group", group, "--state")
    assert err.strip() == no_members, err
    coordinator = coordinator_column(broker, group, find_coordinator)
    assert re.search(rf"^{re.escape(group)}\s+{coordinator}\s+-\s+Empty\s+0\s*$",
                     out, re.M), out
    assert listed().get(group) == "Empty"

    # --reset-offsets --to-earliest: --dry-run shows, --execute commits
    for mode in ("--dry-run", "--execute"):
        out = cgc("--reset-offsets", "--group", group, "--topic", topic, "--to-earliest", mode)
        header, rows = table(out)
        assert header == ["GROUP", "TOPIC", "PARTITION", "NEW-OFFSET"], out
        assert sorted(rows) == [[group, topic, str(p), "0"] for p in range(3)], out
        want = {0: 10, 1: 20, 2: 30} if mode == "--dry-run" else {0: 0, 1: 0, 2: 0}
        assert adm.committed(group, topic, range(3)) == want, mode
    out, err = cgc_both("--describe", "--group", group)
    assert err.strip() == no_members, err
    header, rows = table(out)
    assert {tuple(r) for r in rows} == {
        (group, topic, "0", "0", "10", "10", "-", "-", "-"),
        (group, topic, "1", "0", "27", "27", "-", "-", "-"),
        (group, topic, "2", "0", "30", "30", "-", "-", "-")}, rows

    # a member started now resumes at the reset offsets: it reads all 67 again
    again = PythonMember("kafka-python", "M2", f"{client_id}-2", tmp_path, b, topic, group,
                         commit_interval=0, stop_after=67)
    try:
        assert again.wait(60) == 0, again.tail()
    finally:
        again.close()
    firsts = {}
    for p, o, _v, _t in again.recs():
        firsts.setdefault(p, o)
    assert firsts == {0: 0, 1: 0, 2: 0} and again.n_records() == 67, (firsts, again.n_records())

    out = cgc("--delete", "--group", group)
    assert f"Deletion of requested consumer groups ('{group}') was successful." in out, out
    assert group not in cgc("--list").split()
    out, err = cgc_both("--describe", "--group", group)
    assert ("Error: Executing consumer group command failed due to "
            "org.apache.kafka.common.errors.GroupIdNotFoundException: "
            f"Group {group} not found.") in out, out
    assert "Caused by: org.apache.kafka.common.errors.GroupIdNotFoundException" in err, err
    assert adm.committed(group, topic, range(3)) == dict.fromkeys(range(3), NO_COMMIT)
    missing = f"cg-missing-{uuid.uuid4().hex[:8]}"
    out = cgc("--delete", "--group", missing)
    assert ("Error: Deletion of some consumer groups failed:\n"
            f"* Group '{missing}' could not be deleted due to: "
            "org.apache.kafka.common.errors.GroupIdNotFoundException: "
            "The group id does not exist.") in out, out
