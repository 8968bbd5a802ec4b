from foundation.catalog import PASSWORD_KEY, spark_conf
from foundation.settings import Settings


def test_a_postgres_catalog_names_its_driver_and_user_but_never_its_password():
    """The conf goes on the Spark JVM's command line: the session factory sets the password inside it."""
    conf = spark_conf("10.0.0.5", 5432, Settings.from_env({}).jars_cache, "postgres")
    assert conf["spark.hadoop.javax.jdo.option.ConnectionURL"] == "jdbc:postgresql://10.0.0.5:5432/metastore"
    assert conf["spark.hadoop.javax.jdo.option.ConnectionDriverName"] == "org.postgresql.Driver"
    assert conf["spark.driver.extraClassPath"].rsplit("/", 1)[-1].startswith("postgresql-")
    assert PASSWORD_KEY not in conf and not any("password" in key.lower() for key in conf)


def test_a_derby_catalog_connects_with_derbys_client():
    conf = spark_conf("127.0.0.1", 1527, Settings.from_env({}).jars_cache)
    assert conf["spark.hadoop.javax.jdo.option.ConnectionURL"].startswith("jdbc:derby://127.0.0.1:1527/")
    assert conf["spark.driver.extraClassPath"].rsplit("/", 1)[-1].startswith("derbyclient-")
