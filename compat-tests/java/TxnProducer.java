// TxnProducer: Kafka's Java transactional producer (kafka-clients) writing
// interleaved committed and aborted transactions, for
// compat-tests/test_transactions.py (compiled by txn_support.compile_java
// against the jars scripts/fetch-kafka.sh fetches).
//
// usage: TxnProducer <bootstrap> <transactional.id> <transactions> <records per partition>
//                    <topic:partition> [<topic:partition> ...]
//   Transaction i (0, 1, ...) sends "<transactional.id>-t<i>-<topic>-<partition>-<k>"
//   for k < records per partition to every listed partition, then aborts it
//   when i % 3 == 1 and commits it otherwise.
//
// stdout: "READY" after initTransactions, "COMMIT <i>" / "ABORT <i>" once each
// transaction has ended, "DONE" at the end. Any exception: its stack trace on
// stderr and exit 1.

import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Properties;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.ByteArraySerializer;

public final class TxnProducer {
    private TxnProducer() {}

    public static void main(String[] args) throws Exception {
        if (args.length < 5) {
            System.err.println("usage: TxnProducer <bootstrap> <transactional.id> <transactions> "
                    + "<records per partition> <topic:partition> ...");
            System.exit(2);
        }
        String txnId = args[1];
        int transactions = Integer.parseInt(args[2]);
        int perPartition = Integer.parseInt(args[3]);
        List<String> topics = new ArrayList<>();
        List<Integer> partitions = new ArrayList<>();
        for (int i = 4; i < args.length; i++) {
            int colon = args[i].lastIndexOf(':');
            topics.add(args[i].substring(0, colon));
            partitions.add(Integer.parseInt(args[i].substring(colon + 1)));
        }
        Properties props = new Properties();
        props.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, args[0]);
        props.put(ProducerConfig.TRANSACTIONAL_ID_CONFIG, txnId);
        props.put(ProducerConfig.CLIENT_ID_CONFIG, "txn-producer-" + txnId);
        props.put(ProducerConfig.LINGER_MS_CONFIG, "5");
        props.put(ProducerConfig.MAX_BLOCK_MS_CONFIG, "60000");
        try {
            try (KafkaProducer<byte[], byte[]> producer = new KafkaProducer<>(
                    props, new ByteArraySerializer(), new ByteArraySerializer())) {
                producer.initTransactions();
                System.out.println("READY");
                for (int i = 0; i < transactions; i++) {
                    producer.beginTransaction();
                    for (int k = 0; k < perPartition; k++) {
                        for (int j = 0; j < topics.size(); j++) {
                            String value = txnId + "-t" + i + "-" + topics.get(j) + "-"
                                    + partitions.get(j) + "-" + k;
                            producer.send(new ProducerRecord<>(topics.get(j), partitions.get(j),
                                    null, value.getBytes(StandardCharsets.UTF_8)));
                        }
                    }
                    if (i % 3 == 1) {
                        producer.flush();  // the aborted records reach the log first
                        producer.abortTransaction();
                        System.out.println("ABORT " + i);
                    } else {
                        producer.commitTransaction();
                        System.out.println("COMMIT " + i);
                    }
                }
                producer.close(Duration.ofSeconds(30));
            }
        } catch (Exception e) {
            e.printStackTrace();
            System.exit(1);
        }
        System.out.println("DONE");
        System.exit(0);
    }
}
