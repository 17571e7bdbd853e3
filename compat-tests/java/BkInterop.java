// BkInterop: the reference Java BookKeeper client as a command-line program, so
// compat-tests can check kwire's ledger code against the real implementation
// (ledgers written here are read by Python, and the other way round).
//
// Compiled and run by compat-tests/bk_java.py against the jars that
// scripts/fetch-bookkeeper.sh fetches. Always run it under `timeout`: a Java
// BookKeeper client that cannot reach ZooKeeper hangs instead of failing.
//
// usage:
//   write   <metadataServiceUri> <E> <W> <A> <digest> <password> <n> [open]
//           creates a ledger, writes n entries, closes it (unless the optional
//           last argument is "open": then the JVM exits with the ledger still
//           OPEN, as a crashed writer would leave it), prints the ledger id.
//           Entry i's payload is the UTF-8 text "entry-<i>" (i = 0..n-1).
//   read    <metadataServiceUri> <ledgerId> <digest> <password>
//           opens the ledger WITHOUT recovery (no fencing, so it does not disturb
//           a writer), prints the metadata as one JSON line, then each entry up
//           to the last add confirmed as lowercase hex, one per line. For a
//           ledger still OPEN that is the LAC the bookies report (readLastConfirmed):
//           the LAC piggybacked on the entries, which lags the last written entry
//           (by one for a one-at-a-time writer; this program's pipelined `write`
//           sends all of a short ledger's entries with LAC -1).
//   recover <metadataServiceUri> <ledgerId> <digest> <password>
//           the same, but opens WITH recovery: fences the ledger and closes it.
// digest: CRC32C | CRC32 | MAC | DUMMY. The password is used as UTF-8 bytes.
// The metadataServiceUri looks like zk+hierarchical://127.0.0.1:2181/ledgers.
// System property bkinterop.v2=true makes the client speak the v2 wire protocol.
//
// Exit status: 0 ok; 1 any BookKeeper error (a digest mismatch included, with
// the exception on stderr); 2 bad usage. Logging goes to stderr only (configure
// log4j2 accordingly), so stdout holds nothing but the results.

import com.fasterxml.jackson.databind.ObjectMapper;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Enumeration;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.apache.bookkeeper.client.BKException;
import org.apache.bookkeeper.client.BookKeeper;
import org.apache.bookkeeper.client.LedgerEntry;
import org.apache.bookkeeper.client.LedgerHandle;
import org.apache.bookkeeper.client.api.LedgerMetadata;
import org.apache.bookkeeper.conf.ClientConfiguration;
import org.apache.bookkeeper.net.BookieId;

public final class BkInterop {
    /** Entries read per request, so a long ledger does not need one huge response. */
    private static final int READ_CHUNK = 500;
    /** Adds in flight at once while writing: pipelined, but bounded. */
    private static final int MAX_IN_FLIGHT = 64;

    private BkInterop() {}

    public static void main(String[] args) {
        int rc;
        try {
            rc = run(args);
        } catch (UsageError e) {
            System.err.println("usage error: " + e.getMessage());
            rc = 2;
        } catch (BKException e) {
            System.err.println("BKException " + e.getClass().getSimpleName() + " code=" + e.getCode()
                    + ": " + e.getMessage());
            e.printStackTrace(System.err);
            rc = 1;
        } catch (Exception e) {
            e.printStackTrace(System.err);
            rc = 1;
        }
        System.out.flush();
        // exit explicitly: the client's threads (and a hung ZooKeeper session) must
        // not keep the JVM alive after the work is done or has failed
        System.exit(rc);
    }

    private static int run(String[] args) throws Exception {
        if (args.length < 1) {
            throw new UsageError("write|read|recover ...");
        }
        switch (args[0]) {
            case "write":
                need(args, 8, 9);
                return write(args[1], parseInt(args[2]), parseInt(args[3]), parseInt(args[4]),
                        digest(args[5]), args[6], parseInt(args[7]),
                        args.length == 9 && "open".equals(args[8]));
            case "read":
                need(args, 5, 5);
                return dump(args[1], parseLong(args[2]), digest(args[3]), args[4], false);
            case "recover":
                need(args, 5, 5);
                return dump(args[1], parseLong(args[2]), digest(args[3]), args[4], true);
            default:
                throw new UsageError("unknown subcommand " + args[0]);
        }
    }

    /** Deterministic payload of entry i, documented in the header and mirrored by bk_java.py. */
    static byte[] payload(long i) {
        return ("entry-" + i).getBytes(StandardCharsets.UTF_8);
    }

    private static BookKeeper client(String uri) throws Exception {
        ClientConfiguration conf = new ClientConfiguration();
        conf.setMetadataServiceUri(uri);
        conf.setZkTimeout(4000);
        conf.setAddEntryTimeout(10);
        conf.setReadEntryTimeout(10);
        conf.setUseV2WireProtocol(Boolean.getBoolean("bkinterop.v2"));
        return new BookKeeper(conf);
    }

    private static int write(String uri, int e, int w, int a, BookKeeper.DigestType digest,
                             String password, int n, boolean leaveOpen) throws Exception {
        BookKeeper bk = client(uri);
        LedgerHandle lh = bk.createLedger(e, w, a, digest, password.getBytes(StandardCharsets.UTF_8));
        AtomicInteger firstError = new AtomicInteger(BKException.Code.OK);
        java.util.concurrent.Semaphore window = new java.util.concurrent.Semaphore(MAX_IN_FLIGHT);
        CountDownLatch done = new CountDownLatch(n);
        for (int i = 0; i < n; i++) {
            window.acquire();
            lh.asyncAddEntry(payload(i), (rc, handle, entryId, ctx) -> {
                if (rc != BKException.Code.OK) {
                    firstError.compareAndSet(BKException.Code.OK, rc);
                }
                window.release();
                done.countDown();
            }, null);
        }
        if (!done.await(120, TimeUnit.SECONDS)) {
            throw new IllegalStateException("adds not acknowledged within 120 s");
        }
        if (firstError.get() != BKException.Code.OK) {
            throw BKException.create(firstError.get());
        }
        if (!leaveOpen) {
            lh.close();
        }
        System.out.println(lh.getId());
        return 0;
    }

    private static int dump(String uri, long ledgerId, BookKeeper.DigestType digest, String password,
                            boolean recover) throws Exception {
        BookKeeper bk = client(uri);
        byte[] pw = password.getBytes(StandardCharsets.UTF_8);
        LedgerHandle lh = recover ? bk.openLedger(ledgerId, digest, pw)
                : bk.openLedgerNoRecovery(ledgerId, digest, pw);
        long lac = lh.getLastAddConfirmed();
        if (!recover && !lh.isClosed()) {
            // an OPEN ledger opened without recovery knows no LAC yet: ask the bookies
            // (a plain read, no fencing: the writer keeps writing)
            lac = lh.readLastConfirmed();
        }
        System.out.println(new ObjectMapper().writeValueAsString(describe(lh.getLedgerMetadata(), lac)));
        for (long first = 0; first <= lac; first += READ_CHUNK) {
            long last = Math.min(lac, first + READ_CHUNK - 1);
            Enumeration<LedgerEntry> entries = lh.readEntries(first, last);
            while (entries.hasMoreElements()) {
                System.out.println(hex(entries.nextElement().getEntry()));
            }
        }
        return 0;
    }

    private static Map<String, Object> describe(LedgerMetadata md, long lac) {
        Map<String, Object> out = new LinkedHashMap<>();
        out.put("ledgerId", md.getLedgerId());
        out.put("state", md.getState().toString());
        out.put("closed", md.isClosed());
        out.put("lastEntryId", md.getLastEntryId());
        out.put("lastAddConfirmed", lac);
        out.put("length", md.getLength());
        out.put("ensembleSize", md.getEnsembleSize());
        out.put("writeQuorumSize", md.getWriteQuorumSize());
        out.put("ackQuorumSize", md.getAckQuorumSize());
        out.put("digestType", md.getDigestType().toString());
        out.put("metadataFormatVersion", md.getMetadataFormatVersion());
        // ensembles as [[firstEntryId, ["host:port", ...]], ...] in entry order
        List<Object> ensembles = new ArrayList<>();
        for (Map.Entry<Long, ? extends List<BookieId>> en : md.getAllEnsembles().entrySet()) {
            List<String> ids = new ArrayList<>();
            for (BookieId b : en.getValue()) {
                ids.add(b.toString());
            }
            List<Object> pair = new ArrayList<>();
            pair.add(en.getKey());
            pair.add(ids);
            ensembles.add(pair);
        }
        out.put("ensembles", ensembles);
        return out;
    }

    private static String hex(byte[] data) {
        StringBuilder sb = new StringBuilder(data.length * 2);
        for (byte b : data) {
            sb.append(Character.forDigit((b >> 4) & 0xf, 16)).append(Character.forDigit(b & 0xf, 16));
        }
        return sb.toString();
    }

    private static BookKeeper.DigestType digest(String name) throws UsageError {
        try {
            return BookKeeper.DigestType.valueOf(name);
        } catch (IllegalArgumentException e) {
            throw new UsageError("digest must be CRC32C, CRC32, MAC or DUMMY, not " + name);
        }
    }

    private static void need(String[] args, int min, int max) throws UsageError {
        if (args.length < min || args.length > max) {
            throw new UsageError(args[0] + " takes " + (min - 1) + (max > min ? "-" + (max - 1) : "")
                    + " arguments, got " + (args.length - 1));
        }
    }

    private static int parseInt(String s) throws UsageError {
        try {
            return Integer.parseInt(s);
        } catch (NumberFormatException e) {
            throw new UsageError("not an integer: " + s);
        }
    }

    private static long parseLong(String s) throws UsageError {
        try {
            return Long.parseLong(s);
        } catch (NumberFormatException e) {
            throw new UsageError("not an integer: " + s);
        }
    }

    private static final class UsageError extends Exception {
        private static final long serialVersionUID = 1L;

        UsageError(String message) {
            super(message);
        }
    }
}
