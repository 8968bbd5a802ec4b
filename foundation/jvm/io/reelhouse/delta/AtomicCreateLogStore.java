package io.reelhouse.delta;

import java.io.BufferedOutputStream;
import java.io.FileOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.StandardCopyOption;
import java.util.Iterator;
import java.util.UUID;

import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.LocalFileSystem;
import org.apache.hadoop.fs.Path;
import org.apache.hadoop.fs.RawLocalFileSystem;

import io.delta.storage.HDFSLogStore;
import io.delta.storage.HadoopFileSystemLogStore;

/**
 * A Delta log store for local and NFS paths whose commits are atomic across processes.
 *
 * Delta's default for file: paths checks that the commit file is absent, writes a temporary
 * file, then renames it over the target; rename(2) replaces a file that appeared in between, so
 * two processes committing the same version (the stream and `reelhouse maintain`, or a Spark job
 * and the monitor's delta-rs merge) can both succeed, one overwriting the other's commit. Here the
 * temporary file is published with link(2), which fails if the target exists, atomically, on a
 * local filesystem and on NFS; delta-rs publishes its commits the same way. The loser gets
 * FileAlreadyExistsException, which Delta answers by checking for conflicts and retrying at the
 * next version. Paths on other filesystems keep Delta's default.
 */
public final class AtomicCreateLogStore extends HadoopFileSystemLogStore {

    private final HDFSLogStore otherFileSystems;

    public AtomicCreateLogStore(Configuration hadoopConf) {
        super(hadoopConf);
        this.otherFileSystems = new HDFSLogStore(hadoopConf);
    }

    @Override
    public void write(Path path, Iterator<String> actions, Boolean overwrite, Configuration hadoopConf)
            throws IOException {
        FileSystem fs = path.getFileSystem(hadoopConf);
        java.nio.file.Path target = localPath(fs, path);
        if (target == null) {
            otherFileSystems.write(path, actions, overwrite, hadoopConf);
            return;
        }
        java.nio.file.Path temporary = target.resolveSibling("." + target.getFileName() + "." + UUID.randomUUID() + ".tmp");
        try {
            // a FileOutputStream, not a FileChannel: a channel closes itself when its thread is
            // interrupted (a stream being stopped), failing the commit with an error Spark does not
            // take for the stop
            Files.createFile(temporary);
            try (FileOutputStream file = new FileOutputStream(temporary.toFile());
                 OutputStream out = new BufferedOutputStream(file)) {
                while (actions.hasNext()) {
                    out.write((actions.next() + "\n").getBytes(StandardCharsets.UTF_8));
                }
                out.flush();
                file.getFD().sync();  // the commit's bytes reach the disk before its name appears
            }
            if (overwrite) {
                Files.move(temporary, target, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
            } else {
                try {
                    Files.createLink(target, temporary);
                } catch (FileAlreadyExistsException e) {
                    throw new FileAlreadyExistsException(path.toString());
                }
            }
        } finally {
            Files.deleteIfExists(temporary);
        }
    }

    /** True, as for Delta's own store: a file Delta writes through Hadoop (a checkpoint) is seen
     *  while it is written, so Delta must write it under a temporary name and rename it. (With
     *  false, Delta wrote checkpoints in place and a delta-rs reader listing the log read a
     *  half-written one: "Corrupt footer".) Our commits are whole when they appear either way. */
    @Override
    public Boolean isPartialWriteVisible(Path path, Configuration hadoopConf) {
        return true;
    }

    /** The local file behind `path`, or null when `path` is on another filesystem. */
    private static java.nio.file.Path localPath(FileSystem fs, Path path) {
        FileSystem raw = fs instanceof LocalFileSystem ? ((LocalFileSystem) fs).getRaw() : fs;
        if (!(raw instanceof RawLocalFileSystem)) {
            return null;
        }
        return ((RawLocalFileSystem) raw).pathToFile(path).toPath();
    }
}
