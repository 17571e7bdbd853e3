// ConsumerGroupRecordBytes: golden bytes of Kafka's consumer-group (KIP-848)
// records in __consumer_offsets, built with Kafka's own record helpers
// (GroupCoordinatorRecordHelpers, so the value versions and field choices are
// the ones a Kafka broker writes) and framed by its own GroupCoordinatorRecordSerde.
// tests/coordinator/test_consumer_records.py pins what this prints.
//
// usage (from a directory of Kafka 4.4.0 jars, e.g. ~/.cache/kwire/kafka-4.4.0/libs):
//   javac -cp 'libs/*' -d /tmp/cgrb compat-tests/java/ConsumerGroupRecordBytes.java
//   java -cp '/tmp/cgrb:libs/*' ConsumerGroupRecordBytes
//
// stdout, one line per record:  <name> <key hex> <value hex, or "null" for a tombstone>
// and for the group metadata hash (KIP-1101, Utils.computeTopicHash/computeGroupHash over a
// small in-memory CoordinatorMetadataImage):  hash <name> <signed decimal>

import org.apache.kafka.common.Uuid;
import org.apache.kafka.common.protocol.types.RawTaggedField;
import org.apache.kafka.coordinator.common.runtime.CoordinatorMetadataDelta;
import org.apache.kafka.coordinator.common.runtime.CoordinatorMetadataImage;
import org.apache.kafka.coordinator.common.runtime.CoordinatorRecord;
import org.apache.kafka.coordinator.group.GroupCoordinatorRecordHelpers;
import org.apache.kafka.coordinator.group.GroupCoordinatorRecordSerde;
import org.apache.kafka.coordinator.group.Utils;
import org.apache.kafka.coordinator.group.generated.ConsumerGroupCurrentMemberAssignmentKey;
import org.apache.kafka.coordinator.group.generated.ConsumerGroupCurrentMemberAssignmentValue;
import org.apache.kafka.coordinator.group.generated.ConsumerGroupMemberMetadataValue;
import org.apache.kafka.coordinator.group.generated.ConsumerGroupMetadataKey;
import org.apache.kafka.coordinator.group.generated.ConsumerGroupMetadataValue;
import org.apache.kafka.coordinator.group.generated.ConsumerGroupPartitionMetadataKey;
import org.apache.kafka.coordinator.group.generated.ConsumerGroupPartitionMetadataValue;
import org.apache.kafka.coordinator.group.modern.MemberState;
import org.apache.kafka.coordinator.group.modern.consumer.ConsumerGroupMember;
import org.apache.kafka.coordinator.group.modern.consumer.ResolvedRegularExpression;
import org.apache.kafka.server.common.ApiMessageAndVersion;

import java.nio.charset.StandardCharsets;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;

public class ConsumerGroupRecordBytes {
    static final GroupCoordinatorRecordSerde SERDE = new GroupCoordinatorRecordSerde();

    // Topic ids in ascending (unsigned) order, as kwire sorts them.
    static final Uuid FOO = new Uuid(0x0102030405060708L, 0x090a0b0c0d0e0f10L);
    static final Uuid BAR = new Uuid(0x1112131415161718L, 0x191a1b1c1d1e1f20L);

    static String hex(byte[] b) {
        StringBuilder sb = new StringBuilder();
        for (byte x : b) sb.append(String.format("%02x", x));
        return sb.toString();
    }

    static void print(String name, CoordinatorRecord record) {
        byte[] value = SERDE.serializeValue(record);
        System.out.println(name + " " + hex(SERDE.serializeKey(record)) + " " + (value == null ? "null" : hex(value)));
    }

    static Map<Integer, Integer> epochs(int... partitionEpochPairs) {
        Map<Integer, Integer> m = new LinkedHashMap<>();
        for (int i = 0; i < partitionEpochPairs.length; i += 2) m.put(partitionEpochPairs[i], partitionEpochPairs[i + 1]);
        return m;
    }

    public static void main(String[] args) {
        String g = "grp";

        // type 3: group epoch and metadata hash (tag 0, written only when not 0)
        print("group_metadata", GroupCoordinatorRecordHelpers.newConsumerGroupEpochRecord(g, 10, 0x1234567890abcdefL));
        print("group_metadata_no_hash", GroupCoordinatorRecordHelpers.newConsumerGroupEpochRecord(g, 1, 0L));
        print("group_metadata_tombstone", GroupCoordinatorRecordHelpers.newConsumerGroupEpochTombstoneRecord(g));

        // type 4: deprecated; Kafka 4.4 only writes its tombstone, but older brokers wrote values
        print("partition_metadata_tombstone", GroupCoordinatorRecordHelpers.newConsumerGroupSubscriptionMetadataTombstoneRecord(g));
        ConsumerGroupPartitionMetadataValue pm = new ConsumerGroupPartitionMetadataValue();
        pm.topics().add(new ConsumerGroupPartitionMetadataValue.TopicMetadata()
            .setTopicId(FOO).setTopicName("foo").setNumPartitions(2)
            .setPartitionMetadata(List.of(
                new ConsumerGroupPartitionMetadataValue.PartitionMetadata().setPartition(0).setRacks(List.of("r1", "r2")),
                new ConsumerGroupPartitionMetadataValue.PartitionMetadata().setPartition(1).setRacks(List.of()))));
        pm.topics().add(new ConsumerGroupPartitionMetadataValue.TopicMetadata()
            .setTopicId(BAR).setTopicName("bar").setNumPartitions(1));
        print("partition_metadata", CoordinatorRecord.record(
            new ConsumerGroupPartitionMetadataKey().setGroupId(g), new ApiMessageAndVersion(pm, (short) 0)));

        // type 5: member subscription, a consumer-protocol member and a classic-protocol one
        ConsumerGroupMember consumer = new ConsumerGroupMember.Builder("m1")
            .setInstanceId("i1").setRackId("rack").setClientId("cid").setClientHost("/127.0.0.1")
            .setSubscribedTopicNames(List.of("zeta", "alpha")).setSubscribedTopicRegex("a.*")
            .setServerAssignorName("uniform").setRebalanceTimeoutMs(300000)
            .build();
        print("member_metadata", GroupCoordinatorRecordHelpers.newConsumerGroupMemberSubscriptionRecord(g, consumer));
        ConsumerGroupMember classic = new ConsumerGroupMember.Builder("m2")
            .setClientId("c").setClientHost("h").setSubscribedTopicNames(List.of("foo"))
            .setRebalanceTimeoutMs(5000)
            .setClassicMemberMetadata(new ConsumerGroupMemberMetadataValue.ClassicMemberMetadata()
                .setSessionTimeoutMs(45000)
                .setSupportedProtocols(List.of(
                    new ConsumerGroupMemberMetadataValue.ClassicProtocol().setName("range").setMetadata(new byte[] {1, 2, 3}),
                    new ConsumerGroupMemberMetadataValue.ClassicProtocol().setName("roundrobin").setMetadata(new byte[0]))))
            .build();
        print("member_metadata_classic", GroupCoordinatorRecordHelpers.newConsumerGroupMemberSubscriptionRecord(g, classic));
        print("member_metadata_tombstone", GroupCoordinatorRecordHelpers.newConsumerGroupMemberSubscriptionTombstoneRecord(g, "m1"));

        // type 6: target assignment epoch and timestamp (tag 0, written only when not 0)
        print("target_assignment_metadata", GroupCoordinatorRecordHelpers.newConsumerGroupTargetAssignmentMetadataRecord(g, 10, 1700000000000L));
        print("target_assignment_metadata_no_ts", GroupCoordinatorRecordHelpers.newConsumerGroupTargetAssignmentMetadataRecord(g, 3, 0L));
        print("target_assignment_metadata_tombstone", GroupCoordinatorRecordHelpers.newConsumerGroupTargetAssignmentMetadataTombstoneRecord(g));

        // type 7: a member's target assignment
        Map<Uuid, Set<Integer>> target = new LinkedHashMap<>();
        target.put(FOO, new LinkedHashSet<>(List.of(0, 1, 2)));
        target.put(BAR, new LinkedHashSet<>(List.of(3)));
        print("target_assignment_member", GroupCoordinatorRecordHelpers.newConsumerGroupTargetAssignmentRecord(g, "m1", target));
        print("target_assignment_member_tombstone", GroupCoordinatorRecordHelpers.newConsumerGroupTargetAssignmentTombstoneRecord(g, "m1"));

        // type 8: a member's current assignment, with per-partition assignment epochs (KIP-1251)
        Map<Uuid, Map<Integer, Integer>> assigned = new LinkedHashMap<>();
        assigned.put(FOO, epochs(0, 5, 1, 7));
        assigned.put(BAR, epochs(2, 7));
        Map<Uuid, Map<Integer, Integer>> pending = new LinkedHashMap<>();
        pending.put(FOO, epochs(4, 3));
        ConsumerGroupMember current = new ConsumerGroupMember.Builder("m1")
            .setMemberEpoch(7).setPreviousMemberEpoch(6).setState(MemberState.UNREVOKED_PARTITIONS)
            .setAssignedPartitions(assigned).setPartitionsPendingRevocation(pending)
            .build();
        print("current_assignment", GroupCoordinatorRecordHelpers.newConsumerGroupCurrentAssignmentRecord(g, current));
        ConsumerGroupMember stable = new ConsumerGroupMember.Builder("m1")
            .setMemberEpoch(1).setPreviousMemberEpoch(0).setState(MemberState.STABLE).build();
        print("current_assignment_empty", GroupCoordinatorRecordHelpers.newConsumerGroupCurrentAssignmentRecord(g, stable));
        print("current_assignment_tombstone", GroupCoordinatorRecordHelpers.newConsumerGroupCurrentAssignmentTombstoneRecord(g, "m1"));
        // as Kafka before 4.3 wrote it: no AssignmentEpochs
        ConsumerGroupCurrentMemberAssignmentValue old = new ConsumerGroupCurrentMemberAssignmentValue()
            .setMemberEpoch(4).setPreviousMemberEpoch(3).setState(MemberState.UNRELEASED_PARTITIONS.value())
            .setAssignedPartitions(List.of(new ConsumerGroupCurrentMemberAssignmentValue.TopicPartitions()
                .setTopicId(FOO).setPartitions(List.of(0, 1))))
            .setPartitionsPendingRevocation(List.of());
        print("current_assignment_no_epochs", CoordinatorRecord.record(
            new ConsumerGroupCurrentMemberAssignmentKey().setGroupId(g).setMemberId("m1"), new ApiMessageAndVersion(old, (short) 0)));

        // type 16: a resolved regular expression
        print("regular_expression", GroupCoordinatorRecordHelpers.newConsumerGroupRegularExpressionRecord(
            g, "a.*", new ResolvedRegularExpression(Set.of("alpha", "abc"), 42L, 1700000000000L)));
        print("regular_expression_tombstone", GroupCoordinatorRecordHelpers.newConsumerGroupRegularExpressionTombstone(g, "a.*"));

        // a value with tagged fields this Kafka does not know (as a newer Kafka could write)
        ConsumerGroupMetadataValue unknown = new ConsumerGroupMetadataValue().setEpoch(2).setMetadataHash(5L);
        unknown.unknownTaggedFields().add(new RawTaggedField(1, new byte[] {0, 0, 0, 0, 0, 0, 0, 9}));
        unknown.unknownTaggedFields().add(new RawTaggedField(7, "x".getBytes(StandardCharsets.UTF_8)));
        print("group_metadata_unknown_tags", CoordinatorRecord.record(
            new ConsumerGroupMetadataKey().setGroupId(g), new ApiMessageAndVersion(unknown, (short) 0)));

        // KIP-1101: per-topic hashes (id, name, partitions and their racks), then the group hash
        CoordinatorMetadataImage image = new Image(List.of(
            new Topic(FOO, "foo", List.of(List.of("r2", "r1"), List.of("r1"), List.of())),
            new Topic(BAR, "bar", List.of(List.of()))));
        long fooHash = Utils.computeTopicHash("foo", image);
        long barHash = Utils.computeTopicHash("bar", image);
        System.out.println("hash topic_foo " + fooHash);
        System.out.println("hash topic_bar " + barHash);
        System.out.println("hash topic_missing " + Utils.computeTopicHash("missing", image));
        Map<String, Long> topicHashes = new LinkedHashMap<>();
        topicHashes.put("foo", fooHash);
        topicHashes.put("bar", barHash);
        System.out.println("hash group_foo_bar " + Utils.computeGroupHash(topicHashes));
        System.out.println("hash group_empty " + Utils.computeGroupHash(Map.of()));
    }

    record Topic(Uuid id, String name, List<List<String>> racks) implements CoordinatorMetadataImage.TopicMetadata {
        public int partitionCount() { return racks.size(); }
        public List<String> partitionRacks(int partition) { return new java.util.ArrayList<>(racks.get(partition)); }
    }

    record Image(List<Topic> topics) implements CoordinatorMetadataImage {
        public Set<Uuid> topicIds() { throw new UnsupportedOperationException(); }
        public Set<String> topicNames() { throw new UnsupportedOperationException(); }
        public Optional<TopicMetadata> topicMetadata(String name) {
            return topics.stream().filter(t -> t.name().equals(name)).map(t -> (TopicMetadata) t).findFirst();
        }
        public Optional<TopicMetadata> topicMetadata(Uuid id) { throw new UnsupportedOperationException(); }
        public CoordinatorMetadataDelta emptyDelta() { throw new UnsupportedOperationException(); }
        public long version() { return 0; }
        public boolean isEmpty() { return topics.isEmpty(); }
    }
}
