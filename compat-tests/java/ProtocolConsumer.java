// A Kafka 4.4 Java consumer with group.protocol=consumer (KIP-848), and a Java
// AdminClient describer, for compat-tests/test_consumer_protocol_java.py.
//
// Consumer mode:
//   ProtocolConsumer BOOTSTRAP GROUP TOPIC EXPECTED TIMEOUT_S [--instance-id ID]
//                    [--client-id ID] [--max-poll-records N (default 10)]
//                    [--close DEFAULT|LEAVE_GROUP|REMAIN_IN_GROUP]
// subscribes to TOPIC (auto.offset.reset=earliest, no auto commit), polls, and prints
// to stdout, one line each (values must not contain spaces or newlines):
//   PARTITION OFFSET VALUE        a record (the line starts with a digit)
//   assigned P,P,...              onPartitionsAssigned (the partitions added; "-": none)
//   revoked P,P,...               onPartitionsRevoked
//   lost P,P,...                  onPartitionsLost
//   committed P:OFFSET,...        after each poll that returned records: commitSync of
//                                 exactly the records printed (next offset per partition)
//   done N | timeout N of EXPECTED | error EXCEPTION
//   closed                        after close(): a dynamic member leaves the group (a
//                                 static one too with --close LEAVE_GROUP)
// It stops after EXPECTED records (records of the last batch beyond that are neither
// printed nor committed) or after TIMEOUT_S seconds. Exit code: 0 = EXPECTED records
// consumed and the consumer closed; 3 = timeout; 2 = an exception.
//
// Describe mode:
//   ProtocolConsumer --describe BOOTSTRAP GROUP TOPIC INTERVAL_MS MAX_S
// runs Kafka's Java AdminClient describeConsumerGroups(GROUP) every INTERVAL_MS until
// stdin is closed or MAX_S seconds passed (exit 0), printing one line per answer:
//   describe type=T state=S assignor=A group_epoch=E target_epoch=E members=M;M;...
//     M = clientId|memberId|instanceId|memberEpoch|assigned|target ("-" when absent;
//         assigned/target = the TOPIC partitions as P.P.P, "-" when none)
//   describe-error EXCEPTION_CLASS: MESSAGE
import java.io.InputStream;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.ConsumerGroupDescription;
import org.apache.kafka.clients.admin.DescribeConsumerGroupsOptions;
import org.apache.kafka.clients.admin.MemberAssignment;
import org.apache.kafka.clients.admin.MemberDescription;
import org.apache.kafka.clients.consumer.CloseOptions;
import org.apache.kafka.clients.consumer.ConsumerRebalanceListener;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.ConsumerRecords;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.StringDeserializer;

public class ProtocolConsumer {
    static synchronized void out(String line) {
        System.out.println(line);
        System.out.flush();
    }

    static String partitions(Collection<TopicPartition> tps) {
        TreeSet<Integer> ps = new TreeSet<>();
        for (TopicPartition tp : tps) {
            ps.add(tp.partition());
        }
        if (ps.isEmpty()) {
            return "-";
        }
        StringBuilder sb = new StringBuilder();
        for (int p : ps) {
            sb.append(sb.length() == 0 ? "" : ",").append(p);
        }
        return sb.toString();
    }

    public static void main(String[] args) {
        int rc;
        try {
            rc = args.length > 0 && args[0].equals("--describe") ? describe(args) : consume(args);
        } catch (Throwable t) {
            out("error " + t);
            t.printStackTrace();
            rc = 2;
        }
        System.exit(rc);
    }

    // ------------------------------------------------------------------ consumer
    static int consume(String[] args) {
        if (args.length < 5) {
            System.err.println("usage: ProtocolConsumer BOOTSTRAP GROUP TOPIC EXPECTED TIMEOUT_S "
                               + "[--instance-id ID] [--client-id ID] [--max-poll-records N] "
                               + "[--close DEFAULT|LEAVE_GROUP|REMAIN_IN_GROUP]");
            return 64;
        }
        String bootstrap = args[0], group = args[1], topic = args[2];
        long expected = Long.parseLong(args[3]);
        long deadline = System.nanoTime() + (long) (Double.parseDouble(args[4]) * 1e9);
        Properties props = new Properties();
        props.put("bootstrap.servers", bootstrap);
        props.put("group.id", group);
        props.put("group.protocol", "consumer");
        props.put("enable.auto.commit", "false");
        props.put("auto.offset.reset", "earliest");
        props.put("key.deserializer", StringDeserializer.class.getName());
        props.put("value.deserializer", StringDeserializer.class.getName());
        props.put("max.poll.records", "10");
        props.put("reconnect.backoff.max.ms", "1000");
        String closeOpName = null;
        for (int i = 5; i + 1 < args.length; i += 2) {
            switch (args[i]) {
                case "--instance-id": props.put("group.instance.id", args[i + 1]); break;
                case "--client-id": props.put("client.id", args[i + 1]); break;
                case "--max-poll-records": props.put("max.poll.records", args[i + 1]); break;
                case "--close": closeOpName = args[i + 1]; break;
                default:
                    System.err.println("unknown option " + args[i]);
                    return 64;
            }
        }

        int rc = 0;
        long count = 0;
        CloseOptions.GroupMembershipOperation closeOp = closeOpName == null
            ? CloseOptions.GroupMembershipOperation.DEFAULT
            : CloseOptions.GroupMembershipOperation.valueOf(closeOpName);
        KafkaConsumer<String, String> consumer = new KafkaConsumer<>(props);
        try {
            consumer.subscribe(List.of(topic), new ConsumerRebalanceListener() {
                @Override
                public void onPartitionsRevoked(Collection<TopicPartition> tps) {
                    out("revoked " + partitions(tps));
                }

                @Override
                public void onPartitionsAssigned(Collection<TopicPartition> tps) {
                    out("assigned " + partitions(tps));
                }

                @Override
                public void onPartitionsLost(Collection<TopicPartition> tps) {
                    out("lost " + partitions(tps));
                }
            });
            while (count < expected) {
                long left = deadline - System.nanoTime();
                if (left <= 0) {
                    out("timeout " + count + " of " + expected);
                    rc = 3;
                    break;
                }
                ConsumerRecords<String, String> records =
                    consumer.poll(Duration.ofMillis(Math.max(1, Math.min(200, left / 1_000_000))));
                Map<TopicPartition, OffsetAndMetadata> commit = new HashMap<>();
                for (ConsumerRecord<String, String> r : records) {
                    if (count >= expected) {
                        break;
                    }
                    out(r.partition() + " " + r.offset() + " " + r.value());
                    commit.put(new TopicPartition(r.topic(), r.partition()),
                               new OffsetAndMetadata(r.offset() + 1));
                    count++;
                }
                if (!commit.isEmpty()) {
                    consumer.commitSync(commit, Duration.ofSeconds(15));
                    TreeMap<Integer, Long> sorted = new TreeMap<>();
                    commit.forEach((tp, om) -> sorted.put(tp.partition(), om.offset()));
                    StringBuilder sb = new StringBuilder();
                    sorted.forEach((p, o) -> sb.append(sb.length() == 0 ? "" : ",").append(p).append(':').append(o));
                    out("committed " + sb);
                }
            }
            if (rc == 0) {
                out("done " + count);
            }
        } catch (Exception e) {
            out("error " + e);
            e.printStackTrace();
            rc = 2;
        } finally {
            try {
                consumer.close(CloseOptions.timeout(Duration.ofSeconds(15))
                               .withGroupMembershipOperation(closeOp));
                out("closed");
            } catch (Exception e) {
                out("error close: " + e);
                rc = rc == 0 ? 2 : rc;
            }
        }
        return rc;
    }

    // ------------------------------------------------------------------ describer
    static String assignment(MemberAssignment a, String topic) {
        if (a == null) {
            return "-";
        }
        TreeSet<Integer> ps = new TreeSet<>();
        for (TopicPartition tp : a.topicPartitions()) {
            if (tp.topic().equals(topic)) {
                ps.add(tp.partition());
            }
        }
        if (ps.isEmpty()) {
            return "-";
        }
        StringBuilder sb = new StringBuilder();
        for (int p : ps) {
            sb.append(sb.length() == 0 ? "" : ".").append(p);
        }
        return sb.toString();
    }

    static int describe(String[] args) throws Exception {
        if (args.length != 6) {
            System.err.println("usage: ProtocolConsumer --describe BOOTSTRAP GROUP TOPIC INTERVAL_MS MAX_S");
            return 64;
        }
        String bootstrap = args[1], group = args[2], topic = args[3];
        long interval = Long.parseLong(args[4]);
        long deadline = System.nanoTime() + (long) (Double.parseDouble(args[5]) * 1e9);
        AtomicBoolean stop = new AtomicBoolean(false);
        Thread stdin = new Thread(() -> {
            try {
                InputStream in = System.in;
                while (in.read() >= 0) {
                    // wait for EOF
                }
            } catch (Exception e) {
                // treat as EOF
            }
            stop.set(true);
        }, "stdin-watch");
        stdin.setDaemon(true);
        stdin.start();

        Properties props = new Properties();
        props.put("bootstrap.servers", bootstrap);
        props.put("client.id", "protocol-consumer-describer");
        props.put("request.timeout.ms", "5000");
        props.put("default.api.timeout.ms", "5000");
        try (Admin admin = Admin.create(props)) {
            while (!stop.get() && System.nanoTime() < deadline) {
                try {
                    ConsumerGroupDescription d = admin.describeConsumerGroups(
                            List.of(group), new DescribeConsumerGroupsOptions().timeoutMs(5000))
                        .describedGroups().get(group).get(6, TimeUnit.SECONDS);
                    List<String> members = new ArrayList<>();
                    for (MemberDescription m : d.members()) {
                        members.add(String.join("|",
                            m.clientId(), m.consumerId(), m.groupInstanceId().orElse("-"),
                            m.memberEpoch().map(String::valueOf).orElse("-"),
                            assignment(m.assignment(), topic),
                            m.targetAssignment().map(a -> assignment(a, topic)).orElse("-")));
                    }
                    out("describe type=" + d.type().name() + " state=" + d.groupState().name()
                        + " assignor=" + (d.partitionAssignor() == null || d.partitionAssignor().isEmpty()
                                          ? "-" : d.partitionAssignor())
                        + " group_epoch=" + d.groupEpoch().map(String::valueOf).orElse("-")
                        + " target_epoch=" + d.targetAssignmentEpoch().map(String::valueOf).orElse("-")
                        + " members=" + (members.isEmpty() ? "-" : String.join(";", members)));
                } catch (ExecutionException e) {
                    Throwable c = e.getCause() == null ? e : e.getCause();
                    out("describe-error " + c.getClass().getName() + ": " + c.getMessage());
                } catch (Exception e) {
                    out("describe-error " + e.getClass().getName() + ": " + e.getMessage());
                }
                Thread.sleep(interval);
            }
        }
        return 0;
    }
}
