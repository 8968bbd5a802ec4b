package io.reelhouse.streaming;

import java.io.BufferedOutputStream;
import java.io.File;
import java.io.FileOutputStream;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.StandardCopyOption;

import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FSDataOutputStream;
import org.apache.hadoop.fs.FileAlreadyExistsException;
import org.apache.hadoop.fs.Path;
import org.apache.spark.sql.execution.streaming.checkpointing.FileContextBasedCheckpointFileManager;

/**
 * Spark's default checkpoint file manager, publishing files on a local or NFS path with link(2).
 *
 * Each micro-batch publishes two files (its offsets, then its commit) by writing a temporary file
 * and renaming it. On file: paths, without Hadoop's native library, Hadoop forks the driver for
 * both steps (`chmod` on create, `readlink` on rename: 0.1-0.2 s a batch), and its "fail if the
 * target exists" is a check followed by rename(2), which replaces a file that appeared in
 * between. Here the temporary file is written and synced, then gets its final name
 * with link(2), atomic and failing if the name exists (as the Delta log store does, see
 * AtomicCreateLogStore), or with an atomic move when overwriting is allowed. Other filesystems
 * (HDFS, object stores) keep Spark's own files.
 */
public class AtomicLocalCheckpointFileManager extends FileContextBasedCheckpointFileManager {

    public AtomicLocalCheckpointFileManager(Path path, Configuration hadoopConf) {
        super(path, hadoopConf);
    }

    @Override
    public FSDataOutputStream createTempFile(Path path) {
        if (!isLocal()) {
            return super.createTempFile(path);
        }
        try {
            java.nio.file.Path file = localFile(path);
            Files.createDirectories(file.getParent());
            // a FileOutputStream, not a FileChannel: a channel closes itself when its thread is
            // interrupted, so stopping a query during this write failed it with a ClosedChannelException
            // instead of stopping it (Hadoop's own local stream is not interruptible either)
            FileOutputStream bytes = new FileOutputStream(file.toFile());
            BufferedOutputStream out = new BufferedOutputStream(bytes) {
                @Override
                public void close() throws IOException {
                    try {
                        flush();
                        bytes.getFD().sync();  // the bytes reach the disk before the file gets its name
                    } finally {
                        super.close();
                    }
                }
            };
            return new FSDataOutputStream(out, null);
        } catch (IOException e) {
            throw CheckpointErrors.<RuntimeException>rethrow(e);
        }
    }

    @Override
    public void renameTempFile(Path srcPath, Path dstPath, boolean overwriteIfPossible) {
        if (!isLocal()) {
            super.renameTempFile(srcPath, dstPath, overwriteIfPossible);
            return;
        }
        java.nio.file.Path source = localFile(srcPath);
        java.nio.file.Path target = localFile(dstPath);
        try {
            // a ".<name>.crc" that Hadoop's checksummed filesystem left beside an older file would
            // not match new bytes: Hadoop reads a file without one unchecked
            java.nio.file.Path targetChecksum = target.resolveSibling("." + target.getFileName() + ".crc");
            Files.deleteIfExists(targetChecksum);
            if (overwriteIfPossible) {
                Files.move(source, target, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
                return;
            }
            try {
                Files.createLink(target, source);
            } catch (java.nio.file.FileAlreadyExistsException e) {
                Files.deleteIfExists(source);  // the loser's bytes: nobody will publish them
                throw new FileAlreadyExistsException("Failed to rename " + srcPath + " to " + dstPath
                        + " as destination already exists");
            }
            Files.delete(source);
        } catch (IOException e) {
            throw CheckpointErrors.<RuntimeException>rethrow(e);  // Spark catches Hadoop's FileAlreadyExistsException
        }
    }

    private static java.nio.file.Path localFile(Path path) {
        return new File(path.toUri().getPath()).toPath();
    }

    private static final class CheckpointErrors {
        /** Throws `error` as it is: Scala's renameTempFile declares no checked exceptions, Spark expects them. */
        @SuppressWarnings("unchecked")
        static <E extends Throwable> E rethrow(Throwable error) throws E {
            throw (E) error;
        }
    }
}
