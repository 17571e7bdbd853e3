// AckedProducer: Kafka's Java producer (kafka-clients) as a load generator that
// says which records were acknowledged, where and when, so cluster tests can
// check after broker faults that every acknowledged record is stored exactly
// once, and measure how long produce stalled.
//
// Compiled and run by compat-tests/cluster_load.py (JavaProducerLoad) against
// the Kafka jars scripts/fetch-kafka.sh fetches.
//
// usage: AckedProducer <bootstrap> <topic> <partitions> <records per second> <prefix>
//                      [producer.property=value ...]
//   Sends the value "<prefix>-<seq>" (seq = 0, 1, 2, ...) to partition
//   seq % partitions, paced at the given rate, until stdin says "stop" (or is
//   closed); then flushes, closes the producer and exits 0. Defaults:
//   acks=all, enable.idempotence=true, linger.ms=5, delivery.timeout.ms=120000;
//   every extra argument overrides or adds a producer property.
//
// stdout, one line per event (flushed every few milliseconds):
//   READY                                   the producer is constructed
//   A <partition> <offset> <seq> <wall ms>  record <seq> acknowledged at <offset>
//   E <seq> <partition> <wall ms> <exception: message>   record <seq> failed
//   DONE <records sent>                     after the final flush and close
// Logging goes to stderr (configure log4j2 accordingly).

import java.io.BufferedOutputStream;
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.Properties;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.ByteArraySerializer;

public final class AckedProducer {
    private AckedProducer() {}

    public static void main(String[] args) throws Exception {
        if (args.length < 5) {
            System.err.println("usage: AckedProducer <bootstrap> <topic> <partitions> "
                    + "<records per second> <prefix> [property=value ...]");
            System.exit(2);
        }
        String topic = args[1];
        int partitions = Integer.parseInt(args[2]);
        double rate = Double.parseDouble(args[3]);
        String prefix = args[4];
        Properties props = new Properties();
        props.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, args[0]);
        props.put(ProducerConfig.ACKS_CONFIG, "all");
        props.put(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, "true");
        props.put(ProducerConfig.LINGER_MS_CONFIG, "5");
        props.put(ProducerConfig.DELIVERY_TIMEOUT_MS_CONFIG, "120000");
        props.put(ProducerConfig.CLIENT_ID_CONFIG, "acked-producer-" + prefix);
        for (int i = 5; i < args.length; i++) {
            int eq = args[i].indexOf('=');
            if (eq <= 0) {
                System.err.println("not a property=value: " + args[i]);
                System.exit(2);
            }
            props.put(args[i].substring(0, eq), args[i].substring(eq + 1));
        }
        PrintStream out = new PrintStream(
                new BufferedOutputStream(System.out, 1 << 16), false, StandardCharsets.UTF_8);
        AtomicBoolean stop = new AtomicBoolean();
        Thread stdin = new Thread(() -> {
            try (BufferedReader in = new BufferedReader(
                    new InputStreamReader(System.in, StandardCharsets.UTF_8))) {
                String line;
                while ((line = in.readLine()) != null && !line.trim().equals("stop")) {
                    // anything else is ignored
                }
            } catch (Exception e) {
                // a broken stdin means stop, too
            }
            stop.set(true);
        }, "stdin");
        stdin.setDaemon(true);
        stdin.start();
        Thread flusher = new Thread(() -> {
            while (true) {
                try {
                    Thread.sleep(5);
                } catch (InterruptedException e) {
                    return;
                }
                synchronized (out) {
                    out.flush();
                }
            }
        }, "flusher");
        flusher.setDaemon(true);
        flusher.start();

        long sent = 0;
        try (KafkaProducer<byte[], byte[]> producer = new KafkaProducer<>(
                props, new ByteArraySerializer(), new ByteArraySerializer())) {
            synchronized (out) {
                out.println("READY");
            }
            long started = System.nanoTime();
            while (!stop.get()) {
                double due = (System.nanoTime() - started) / 1e9 * rate;
                if (sent >= due) {
                    Thread.sleep(2);
                    continue;
                }
                final long seq = sent;
                final int partition = (int) (seq % partitions);
                byte[] value = (prefix + "-" + seq).getBytes(StandardCharsets.UTF_8);
                producer.send(new ProducerRecord<>(topic, partition, null, value), (md, exc) -> {
                    long now = System.currentTimeMillis();
                    synchronized (out) {
                        if (exc == null) {
                            out.println("A " + md.partition() + " " + md.offset() + " " + seq
                                    + " " + now);
                        } else {
                            out.println("E " + seq + " " + partition + " " + now + " "
                                    + exc.getClass().getSimpleName() + ": "
                                    + String.valueOf(exc.getMessage()).replace('\n', ' '));
                        }
                    }
                });
                sent++;
            }
            producer.flush();
            producer.close(java.time.Duration.ofSeconds(30));
        }
        synchronized (out) {
            out.println("DONE " + sent);
            out.flush();
        }
        flusher.interrupt();
        TimeUnit.MILLISECONDS.sleep(10);
        System.exit(0);
    }
}
