// Kafka Streams word count under exactly_once_v2, run by compat-tests/test_streams_eos.py
// against kwire and against a real Apache Kafka.
//
// usage: java -cp <kafka-streams libs>:<classes> StreamsWordCount
//            BOOTSTRAP APPLICATION_ID INPUT_TOPIC OUTPUT_TOPIC STATE_DIR COMMIT_INTERVAL_MS THROTTLE_MS
//            [PROCESSING_GUARANTEE [FREEZE_AT]]
//   PROCESSING_GUARANTEE: default exactly_once_v2 (at_least_once shows the test
//   catches double counting); FREEZE_AT > 0: from that input line on, once 20
//   lines went into the current transaction (no commit in between, by the
//   thread's commit-total metric), print "frozen <N>" and block the stream
//   thread for good, so a kill -9 lands in a transaction that holds records.
//
// Topology: INPUT (text lines) -> flatMapValues(words) -> groupBy(word) -> count -> OUTPUT
// (key = word, value = the count as a decimal string). The groupBy makes a
// repartition topic and count a changelog topic, so one transaction spans the
// output, an internal topic, the changelog and the consumer offsets.
//
// stdout (one line each, for the test to follow): "state <FROM> <TO>" on every
// state change, "progress <N>" after every 250th input line, "error <...>" on
// an uncaught exception (then exit 2). THROTTLE_MS > 0 sleeps that long per
// input line, so a kill -9 from outside lands while a transaction is open.
// SIGTERM closes the application (commits, leaves the group) and exits 0.

import java.time.Duration;
import java.util.Arrays;
import java.util.Locale;
import java.util.Properties;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.streams.KafkaStreams;
import org.apache.kafka.streams.StreamsBuilder;
import org.apache.kafka.streams.StreamsConfig;
import org.apache.kafka.streams.errors.StreamsUncaughtExceptionHandler;
import org.apache.kafka.streams.kstream.Consumed;
import org.apache.kafka.streams.kstream.Grouped;
import org.apache.kafka.streams.kstream.Produced;

public final class StreamsWordCount {
    private StreamsWordCount() {}

    public static void main(String[] args) throws Exception {
        if (args.length < 7 || args.length > 9) {
            System.err.println("usage: StreamsWordCount BOOTSTRAP APPLICATION_ID INPUT OUTPUT"
                    + " STATE_DIR COMMIT_INTERVAL_MS THROTTLE_MS [PROCESSING_GUARANTEE [FREEZE_AT]]");
            System.exit(64);
        }
        String input = args[2];
        String output = args[3];
        long throttleMs = Long.parseLong(args[6]);

        Properties props = new Properties();
        props.put(StreamsConfig.BOOTSTRAP_SERVERS_CONFIG, args[0]);
        props.put(StreamsConfig.APPLICATION_ID_CONFIG, args[1]);
        props.put(StreamsConfig.STATE_DIR_CONFIG, args[4]);
        props.put(StreamsConfig.COMMIT_INTERVAL_MS_CONFIG, args[5]);
        props.put(StreamsConfig.PROCESSING_GUARANTEE_CONFIG,
                args.length >= 8 ? args[7] : StreamsConfig.EXACTLY_ONCE_V2);
        long freezeAt = args.length == 9 ? Long.parseLong(args[8]) : 0;
        props.put(StreamsConfig.NUM_STREAM_THREADS_CONFIG, "1");
        props.put(StreamsConfig.REPLICATION_FACTOR_CONFIG, "1");
        props.put(StreamsConfig.DEFAULT_KEY_SERDE_CLASS_CONFIG, Serdes.StringSerde.class);
        props.put(StreamsConfig.DEFAULT_VALUE_SERDE_CLASS_CONFIG, Serdes.StringSerde.class);
        // A restarted instance (after kill -9) joins as a new member: the dead one
        // must leave the group within seconds, not the default 45 s.
        props.put(StreamsConfig.consumerPrefix(ConsumerConfig.SESSION_TIMEOUT_MS_CONFIG), "6000");
        props.put(StreamsConfig.consumerPrefix(ConsumerConfig.HEARTBEAT_INTERVAL_MS_CONFIG), "1000");

        AtomicLong lines = new AtomicLong();
        AtomicReference<KafkaStreams> app = new AtomicReference<>();
        long[] sinceCommit = {-1, 0};  // {commit-total seen, lines processed since}
        StreamsBuilder builder = new StreamsBuilder();
        builder.stream(input, Consumed.with(Serdes.String(), Serdes.String()))
                .peek((k, v) -> {
                    long n = lines.incrementAndGet();
                    if (n % 250 == 0) {
                        System.out.println("progress " + n);
                    }
                    if (freezeAt > 0 && n >= freezeAt) {
                        double commits = commitTotal(app.get());
                        if (commits != sinceCommit[0]) {
                            sinceCommit[0] = (long) commits;
                            sinceCommit[1] = 0;
                        } else if (++sinceCommit[1] >= 20) {
                            System.out.println("frozen " + n);
                            try {
                                Thread.sleep(Long.MAX_VALUE);
                            } catch (InterruptedException e) {
                                Thread.currentThread().interrupt();
                            }
                        }
                    }
                    if (throttleMs > 0) {
                        try {
                            Thread.sleep(throttleMs);
                        } catch (InterruptedException e) {
                            Thread.currentThread().interrupt();
                        }
                    }
                })
                .flatMapValues(line -> Arrays.asList(line.toLowerCase(Locale.ROOT).split("\\W+")))
                .filter((k, word) -> !word.isEmpty())
                .groupBy((k, word) -> word, Grouped.with(Serdes.String(), Serdes.String()))
                .count()
                .toStream()
                .mapValues(Object::toString)
                .to(output, Produced.with(Serdes.String(), Serdes.String()));

        KafkaStreams streams = new KafkaStreams(builder.build(), props);
        app.set(streams);
        CountDownLatch done = new CountDownLatch(1);
        streams.setStateListener((to, from) -> {
            System.out.println("state " + from + " " + to);
            if (to == KafkaStreams.State.NOT_RUNNING || to == KafkaStreams.State.ERROR) {
                done.countDown();
            }
        });
        streams.setUncaughtExceptionHandler(e -> {
            System.out.println("error " + e);
            e.printStackTrace();
            System.out.flush();
            Runtime.getRuntime().halt(2);
            return StreamsUncaughtExceptionHandler.StreamThreadExceptionResponse.SHUTDOWN_CLIENT;
        });
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            streams.close(Duration.ofSeconds(30));
            System.out.println("closed");
            System.out.flush();
        }, "shutdown"));
        streams.start();
        done.await();
    }

    /** The stream thread's commit-total metric: how many commits it made so far. */
    private static double commitTotal(KafkaStreams streams) {
        for (var e : streams.metrics().entrySet()) {
            if (e.getKey().name().equals("commit-total")
                    && e.getKey().group().equals("stream-thread-metrics")) {
                return ((Number) e.getValue().metricValue()).doubleValue();
            }
        }
        return -1;
    }
}
