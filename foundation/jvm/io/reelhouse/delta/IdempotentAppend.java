package io.reelhouse.delta;

import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SaveMode;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.delta.DeltaLog;
import org.apache.spark.sql.delta.DeltaOperations;
import org.apache.spark.sql.delta.DeltaOptions;
import org.apache.spark.sql.delta.OptimisticTransaction;
import org.apache.spark.sql.delta.OptimisticTransaction$;
import org.apache.spark.sql.delta.VersionChecksum;
import org.apache.spark.sql.delta.actions.Action;
import org.apache.spark.sql.delta.actions.SetTransaction;
import org.apache.spark.sql.delta.commands.DMLUtils;
import org.apache.spark.sql.delta.commands.WriteIntoDelta;

import scala.Option;
import scala.collection.Iterator;
import scala.collection.immutable.Map;
import scala.collection.immutable.Nil$;
import scala.collection.immutable.Seq;

/**
 * Delta's idempotent append (the `txnAppId` / `txnVersion` write options), with its "was this
 * version written already?" check answered from the table's checksum instead of its full state.
 *
 * Delta 4.4 answers that check with Snapshot.transactions, a full state reconstruction (three
 * Spark jobs, 0.3-0.6 s a write, growing with the table's files), although every commit's checksum
 * (.crc, kept incrementally in memory after our own commits) lists the table's SetTransaction actions.
 * When the checksum is known it is read, and the application id is registered as read exactly as
 * Delta's own check does, so a concurrent commit by the same writer still fails the commit; when
 * it is not (a commit by a writer that keeps no checksum, such as delta-rs), Delta's own check runs.
 * Everything else is Delta's WriteIntoDelta: schema enforcement, partitions, statistics, the
 * SetTransaction action in the same commit, conflict checks and retries.
 *
 * Written against delta-spark 4.4.0 (WriteIntoDelta's constructor and writeAndReturnCommitData,
 * DeltaOperations.Write, commitIfNeeded, Snapshot.checksumOpt); a version that changes them fails
 * to compile here, when the first Spark session starts, not in a stream.
 */
public final class IdempotentAppend {

    private IdempotentAppend() {
    }

    /** Append `data` to the Delta table at `path` unless `appId` already committed `version`
     *  (or a later one); true when it appended. The steps of WriteIntoDelta.run, but its check. */
    @SuppressWarnings("unchecked")
    public static boolean append(Dataset<Row> data, String path, String appId, long version) {
        SparkSession spark = data.sparkSession();
        Map<String, String> optionMap = (Map<String, String>) IdempotentAppend.<String, String>emptyMap()
                .updated("txnAppId", appId).updated("txnVersion", Long.toString(version));
        DeltaOptions options = new DeltaOptions(optionMap, spark.sessionState().conf());
        Seq<String> noPartitionColumns = (Seq<String>) (Object) Nil$.MODULE$;  // appends keep the table's
        DeltaLog log = DeltaLog.forTable(spark, path);
        WriteIntoDelta write = new WriteIntoDelta(log, SaveMode.Append, options, noPartitionColumns,
                IdempotentAppend.<String, String>emptyMap(), data, Option.empty(), Option.empty(), false);
        OptimisticTransaction txn = log.startTransaction(Option.empty(), Option.empty());
        OptimisticTransaction$.MODULE$.setActive(txn);
        try {
            Option<Object> known = committedVersion(txn, appId);
            long committed;
            if (known.isEmpty()) {
                committed = txn.txnVersion(appId);  // Delta's own lookup, from the full state
            } else {
                txn.readTxn().$plus$eq(appId);  // as txnVersion does: a commit by `appId` meanwhile conflicts
                committed = (Long) known.get();
            }
            if (committed >= version) {
                return false;
            }
            DMLUtils.TaggedCommitData<Action> commit = (DMLUtils.TaggedCommitData<Action>) (Object)
                    write.writeAndReturnCommitData(txn, spark, write.writeAndReturnCommitData$default$3(),
                            write.writeAndReturnCommitData$default$4());
            DeltaOperations.Write operation = new DeltaOperations.Write(SaveMode.Append,
                    Option.apply(noPartitionColumns), options.replaceWhere(), options.userMetadata(),
                    Option.<Object>apply(Boolean.FALSE), Option.<Object>apply(options.canOverwriteSchema()),
                    Option.<Object>apply(options.canMergeSchema()), options.replaceOn(), options.replaceUsing());
            txn.commitIfNeeded(commit.actions(), operation, commit.stringTags());
            return true;
        } finally {
            OptimisticTransaction$.MODULE$.clearActive();
        }
    }

    /** The version `appId` last committed to the Delta table at `path` (-1: none), answered as
     *  `append` answers it: from the latest checksum when known, Delta's full state otherwise. */
    public static long committedVersion(SparkSession spark, String path, String appId) {
        // a transaction only to read the latest snapshot as `append` does; it never commits
        OptimisticTransaction txn = DeltaLog.forTable(spark, path).startTransaction(Option.empty(), Option.empty());
        Option<Object> known = committedVersion(txn, appId);
        return known.isEmpty() ? txn.txnVersion(appId) : (Long) known.get();
    }

    /** The version `appId` last committed according to `txn`'s checksum; empty when the checksum
     *  is not known. */
    static Option<Object> committedVersion(OptimisticTransaction txn, String appId) {
        // not Snapshot.setTransactionsIfKnown, which falls back to the full state itself
        Option<VersionChecksum> checksum = txn.snapshot().checksumOpt();
        Option<Seq<SetTransaction>> known = checksum.isEmpty() ? Option.empty() : checksum.get().setTransactions();
        if (known.isEmpty()) {
            return Option.empty();
        }
        long committed = -1L;
        for (Iterator<SetTransaction> it = known.get().iterator(); it.hasNext(); ) {
            SetTransaction action = it.next();
            if (action.appId().equals(appId)) {
                committed = action.version();
            }
        }
        return Option.apply(committed);
    }

    @SuppressWarnings("unchecked")
    private static <K, V> Map<K, V> emptyMap() {
        return (Map<K, V>) scala.collection.immutable.Map$.MODULE$.empty();
    }
}
