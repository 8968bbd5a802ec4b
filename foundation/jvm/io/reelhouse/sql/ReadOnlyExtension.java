package io.reelhouse.sql;

import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;

import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.SparkSessionExtensions;
import org.apache.spark.sql.catalyst.expressions.Expression;
import org.apache.spark.sql.catalyst.expressions.SubqueryExpression;
import org.apache.spark.sql.catalyst.plans.logical.Command;
import org.apache.spark.sql.catalyst.plans.logical.LogicalPlan;
import org.apache.spark.sql.connector.catalog.Identifier;
import org.apache.spark.sql.execution.command.SetCommand;
import org.apache.spark.sql.execution.datasources.HadoopFsRelation;
import org.apache.spark.sql.execution.datasources.LogicalRelation;
import org.apache.spark.sql.execution.datasources.v2.DataSourceV2Relation;

import scala.Function1;
import scala.Option;
import scala.Tuple2;
import scala.jdk.javaapi.CollectionConverters;
import scala.runtime.BoxedUnit;

/**
 * The SQL endpoint's read-only mode (`reelhouse serve` without --writable): a check rule that
 * refuses every statement except queries and the commands that only look (SHOW, DESCRIBE,
 * EXPLAIN, USE, SET of a harmless key). Writes, DDL, ADD JAR, CREATE FUNCTION, script transforms
 * and Java reflection are refused before they run, for the client that sent them only, and so
 * are reads of files outside the lakehouse's layers (`text.`/etc/passwd``): a client can switch
 * spark.sql.runSQLOnFiles back on through its session's configuration, so the rule does not rely
 * on that setting. The layers' folders come from the application's own configuration
 * (READABLE_ROOTS, comma-separated), which no client can change.
 *
 * The rule is switched off only by the server's own driver (`enforce(false)`, over py4j), while
 * it names the lakehouse's tables in the catalog at start-up, before any client can connect.
 */
public final class ReadOnlyExtension implements Function1<SparkSessionExtensions, BoxedUnit> {

    public static final String READABLE_ROOTS = "spark.reelhouse.sql.readableRoots";

    /** Commands that only read the catalog or the session, by class-name prefix. */
    private static final String[] LOOKING_COMMANDS = {
        "Show", "Describe", "Explain", "SetCatalogAndNamespace", "SetNamespace", "SetCatalog", "SetCommand",
        "ResetCommand"};

    /** Expressions that run code of the caller's choosing. */
    private static final Set<String> REFUSED_EXPRESSIONS = Set.of("CallMethodViaReflection", "TryReflect");

    /** Session settings a reader must not change: file reads by path, and catalogs of a class of
     * the reader's choosing (instantiated when a query names them). */
    private static final String[] GUARDED_SETTINGS = {"spark.sql.runsqlonfiles", "spark.sql.catalog"};

    private static volatile boolean enforcing = true;

    /** For the server's driver only: clients cannot reach a JVM static (reflection is refused). */
    public static void enforce(boolean on) {
        enforcing = on;
    }

    @Override
    public BoxedUnit apply(SparkSessionExtensions extensions) {
        Function1<SparkSession, Function1<LogicalPlan, BoxedUnit>> builder = session -> {
            List<java.nio.file.Path> roots = new ArrayList<>();
            for (String root : session.sparkContext().getConf().get(READABLE_ROOTS, "").split(",")) {
                if (!root.isBlank()) {
                    roots.add(Paths.get(root.trim()).toAbsolutePath().normalize());
                }
            }
            return plan -> {
                if (enforcing) {
                    new ReadOnlyCheck(roots).check(plan);
                }
                return BoxedUnit.UNIT;
            };
        };
        extensions.injectCheckRule(builder);
        return BoxedUnit.UNIT;
    }

    private static final class ReadOnlyCheck {
        private final List<java.nio.file.Path> roots;

        ReadOnlyCheck(List<java.nio.file.Path> roots) {
            this.roots = roots;
        }

        void check(LogicalPlan plan) {
            String name = plan.getClass().getSimpleName();
            if (plan instanceof SetCommand) {
                checkSetting((SetCommand) plan);
            } else if (plan instanceof Command && !looks(name)) {
                refuse(name);
            }
            if (name.startsWith("ScriptTransformation")) {
                refuse("script transforms (TRANSFORM ... USING)");
            }
            if (plan instanceof LogicalRelation && !insideLayers((LogicalRelation) plan)
                    || plan instanceof DataSourceV2Relation && namesAPath(((DataSourceV2Relation) plan).identifier())) {
                refuse("reading files by path");
            }
            for (Expression expression : CollectionConverters.asJava(plan.expressions())) {
                checkExpression(expression);
            }
            for (LogicalPlan child : CollectionConverters.asJava(plan.children())) {
                check(child);
            }
        }

        private boolean insideLayers(LogicalRelation relation) {
            if (!(relation.relation() instanceof HadoopFsRelation)) {
                return relation.catalogTable().isDefined();
            }
            HadoopFsRelation files = (HadoopFsRelation) relation.relation();
            for (org.apache.hadoop.fs.Path root : CollectionConverters.asJava(files.location().rootPaths())) {
                java.nio.file.Path path = Paths.get(root.toUri().getPath()).toAbsolutePath().normalize();
                if (roots.stream().noneMatch(path::startsWith)) {
                    return false;
                }
            }
            return true;
        }

        private void checkExpression(Expression expression) {
            String name = expression.getClass().getSimpleName();
            if (REFUSED_EXPRESSIONS.contains(name)) {
                refuse("reflection (reflect, java_method)");
            }
            if (expression instanceof SubqueryExpression) {
                check(((SubqueryExpression) expression).plan());
            }
            for (Expression child : CollectionConverters.asJava(expression.children())) {
                checkExpression(child);
            }
        }
    }

    private static void checkSetting(SetCommand command) {
        Option<Tuple2<String, Option<String>>> keyValue = command.kv();
        if (keyValue.isDefined() && keyValue.get()._2().isDefined()) {
            String key = keyValue.get()._1().trim().toLowerCase(java.util.Locale.ROOT);
            for (String guarded : GUARDED_SETTINGS) {
                if (key.startsWith(guarded)) {
                    refuse("SET " + keyValue.get()._1().trim());
                }
            }
        }
    }

    /** `delta.`/some/path``: a table named by its path rather than by the catalog. */
    private static boolean namesAPath(Option<Identifier> identifier) {
        if (identifier.isEmpty()) {
            return true;
        }
        String name = identifier.get().name();
        return name.startsWith("/") || name.contains(":/");
    }

    private static boolean looks(String commandName) {
        for (String prefix : LOOKING_COMMANDS) {
            if (commandName.startsWith(prefix)) {
                return true;
            }
        }
        return false;
    }

    private static void refuse(String what) {
        throw new SecurityException("this SQL endpoint is read-only: " + what + " is refused "
            + "(writes, DDL, ADD JAR, functions, scripts and reflection need a `reelhouse serve --writable` endpoint)");
    }
}
