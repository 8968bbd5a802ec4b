import java.nio.file.FileAlreadyExistsException;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;

import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.Path;

import io.delta.storage.LogStore;

/**
 * One of two processes committing the same Delta log versions at the same instants, run by
 * test_log_store.py: args are the log store class, the table folder, this writer's name, the
 * number of versions and the start time (epoch ms). Both spin until the start, then try version
 * v at start + v ticks, so that each version has two committers at once. Prints the versions
 * this writer won, space-separated.
 */
public final class LogStoreRace {
    private static final long TICK_NANOS = 2_000_000L;

    public static void main(String[] args) throws Exception {
        Configuration conf = new Configuration();
        LogStore store = (LogStore) Class.forName(args[0]).getConstructor(Configuration.class).newInstance(conf);
        Path log = new Path(args[1], "_delta_log");
        String commit = "{\"commitInfo\":{\"writer\":\"" + args[2] + "\"}}";
        int versions = Integer.parseInt(args[3]);
        long startMillis = Long.parseLong(args[4]);
        log.getFileSystem(conf).mkdirs(log);
        store.write(new Path(log, "warm-up-" + args[2] + ".json"), Collections.singletonList(commit).iterator(), false, conf);
        if (System.currentTimeMillis() >= startMillis) {
            System.err.println("late for the start: no race");
            System.exit(3);
        }
        while (System.currentTimeMillis() < startMillis) {
            Thread.onSpinWait();
        }
        long start = System.nanoTime();
        List<Integer> won = new ArrayList<>();
        for (int version = 0; version < versions; version++) {
            while (System.nanoTime() < start + version * TICK_NANOS) {
                Thread.onSpinWait();
            }
            Path path = new Path(log, String.format("%020d.json", version));
            try {
                store.write(path, Collections.singletonList(commit).iterator(), false, conf);
                won.add(version);
            } catch (FileAlreadyExistsException lost) {
                // the other writer has this version: Delta would retry at the next
            }
        }
        StringBuilder out = new StringBuilder();
        for (int version : won) {
            out.append(version).append(' ');
        }
        System.out.println(out.toString().trim());
    }
}
