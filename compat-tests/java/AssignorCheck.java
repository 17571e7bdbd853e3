// Runs Kafka 4.4's own server-side assignors (uniform, range) on cases read from stdin,
// one per line, and prints Kafka's assignment for each, one line per case. Used by
// compat-tests/test_assignors_vs_kafka.py to cross-check kwire's port.
//
// Input line:  ASSIGNOR|SUBSCRIPTION_TYPE|TOPICS|MEMBER|MEMBER|...
//   TOPICS  = uuid:partitionCount,... (or -)
//   MEMBER  = memberId;instanceId;rackId;subscribedUuid,...;uuid=p.p.p,uuid=p.p
//             (- for none/empty); uuids in java.util.UUID text form.
// Output line: OK|memberId;uuid=p.p,uuid=p|...   or   ERR|message   or   CRASH|exception
//
// The inputs are built the way Kafka's coordinator builds them, because HashMap
// iteration order decides parts of the result: the members map is a HashMap filled in
// line order (TargetAssignmentBuilder), an assignment is a HashMap filled in line order
// with a `new HashSet<>(list)` per topic (Assignment.fromRecord), and subscriptions
// iterate in line order.
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.TreeSet;

import org.apache.kafka.common.Uuid;
import org.apache.kafka.coordinator.group.api.assignor.ConsumerGroupPartitionAssignor;
import org.apache.kafka.coordinator.group.api.assignor.GroupAssignment;
import org.apache.kafka.coordinator.group.api.assignor.MemberAssignment;
import org.apache.kafka.coordinator.group.api.assignor.PartitionAssignorException;
import org.apache.kafka.coordinator.group.api.assignor.SubscribedTopicDescriber;
import org.apache.kafka.coordinator.group.api.assignor.SubscriptionType;
import org.apache.kafka.coordinator.group.assignor.RangeAssignor;
import org.apache.kafka.coordinator.group.assignor.UniformAssignor;
import org.apache.kafka.coordinator.group.modern.Assignment;
import org.apache.kafka.coordinator.group.modern.GroupSpecImpl;
import org.apache.kafka.coordinator.group.modern.MemberSubscriptionAndAssignmentImpl;

public class AssignorCheck {
    static Uuid uuid(String text) {
        java.util.UUID u = java.util.UUID.fromString(text);
        return new Uuid(u.getMostSignificantBits(), u.getLeastSignificantBits());
    }

    static String text(Uuid id) {
        return new java.util.UUID(id.getMostSignificantBits(), id.getLeastSignificantBits()).toString();
    }

    static Optional<String> opt(String s) {
        return s.equals("-") ? Optional.empty() : Optional.of(s);
    }

    static final class Topics implements SubscribedTopicDescriber {
        final Map<Uuid, Integer> counts = new HashMap<>();

        @Override
        public int numPartitions(Uuid topicId) {
            return counts.getOrDefault(topicId, -1);
        }

        @Override
        public Set<String> racksForPartition(Uuid topicId, int partition) {
            return Set.of();
        }
    }

    static String run(String line) {
        String[] fields = line.split("\\|", -1);
        ConsumerGroupPartitionAssignor assignor =
            fields[0].equals("uniform") ? new UniformAssignor() : new RangeAssignor();
        SubscriptionType type = SubscriptionType.valueOf(fields[1]);
        Topics topics = new Topics();
        if (!fields[2].equals("-")) {
            for (String t : fields[2].split(",")) {
                String[] kv = t.split(":");
                topics.counts.put(uuid(kv[0]), Integer.parseInt(kv[1]));
            }
        }
        Map<String, MemberSubscriptionAndAssignmentImpl> members = new HashMap<>();
        Map<Uuid, Map<Integer, String>> inverted = new HashMap<>();
        for (int i = 3; i < fields.length; i++) {
            String[] m = fields[i].split(";", -1);
            Set<Uuid> subs = new LinkedHashSet<>();
            if (!m[3].equals("-")) {
                for (String s : m[3].split(",")) subs.add(uuid(s));
            }
            Map<Uuid, Set<Integer>> partitions = new HashMap<>();
            if (!m[4].equals("-")) {
                for (String tp : m[4].split(",")) {
                    String[] kv = tp.split("=");
                    List<Integer> list = new ArrayList<>();
                    for (String p : kv[1].split("\\.")) list.add(Integer.parseInt(p));
                    Uuid topicId = uuid(kv[0]);
                    partitions.put(topicId, new HashSet<>(list));
                    for (Integer p : list) {
                        inverted.computeIfAbsent(topicId, k -> new HashMap<>()).put(p, m[0]);
                    }
                }
            }
            members.put(m[0], new MemberSubscriptionAndAssignmentImpl(
                opt(m[2]), opt(m[1]), Collections.unmodifiableSet(subs), new Assignment(partitions)));
        }
        GroupSpecImpl spec = new GroupSpecImpl(Collections.unmodifiableMap(members), type, inverted);
        GroupAssignment result;
        try {
            result = assignor.assign(spec, topics);
        } catch (PartitionAssignorException e) {
            return "ERR|" + e.getMessage();
        } catch (RuntimeException e) {
            return "CRASH|" + e;
        }
        StringBuilder out = new StringBuilder("OK");
        for (Map.Entry<String, MemberAssignment> e : result.members().entrySet()) {
            out.append('|').append(e.getKey()).append(';');
            List<String> parts = new ArrayList<>();
            for (Map.Entry<Uuid, Set<Integer>> tp : e.getValue().partitions().entrySet()) {
                StringBuilder s = new StringBuilder(text(tp.getKey())).append('=');
                List<String> ps = new ArrayList<>();
                for (Integer p : new TreeSet<>(tp.getValue())) ps.add(p.toString());
                parts.add(s.append(String.join(".", ps)).toString());
            }
            out.append(parts.isEmpty() ? "-" : String.join(",", parts));
        }
        return out.toString();
    }

    public static void main(String[] args) throws Exception {
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
        StringBuilder out = new StringBuilder();
        String line;
        while ((line = in.readLine()) != null) {
            if (!line.isEmpty()) out.append(run(line)).append('\n');
        }
        System.out.print(out);
        System.out.flush();
    }
}
