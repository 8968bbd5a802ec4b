"""pyspark, delta-spark and the jars in foundation/poms/spark-pom.xml must move together."""

import xml.etree.ElementTree as ET
from importlib.metadata import requires, version
from pathlib import Path

from packaging.requirements import Requirement

from foundation.jars import artifact_name, pom_path

NS = {"m": "http://maven.apache.org/POM/4.0.0"}


def _dependencies(bundle: str) -> dict[str, str]:
    root = ET.parse(pom_path(bundle)).getroot()
    props = {p.tag.split("}")[1]: p.text for p in root.find("m:properties", NS)}

    def expand(text: str) -> str:
        for key, value in props.items():
            text = text.replace("${" + key + "}", value)
        return text

    return {
        expand(d.find("m:artifactId", NS).text): expand(d.find("m:version", NS).text)
        for d in root.find("m:dependencies", NS)
    }


def test_installed_pyspark_is_in_delta_spark_range():
    pyspark_req = next(Requirement(r) for r in requires("delta-spark") if r.startswith("pyspark"))
    assert pyspark_req.specifier.contains(version("pyspark"))


def test_delta_jar_matches_the_wheel_and_spark_minor():
    spark_minor = ".".join(version("pyspark").split(".")[:2])
    deps = _dependencies("spark")
    assert deps[f"delta-spark_{spark_minor}_2.13"] == version("delta-spark")


def test_kafka_connector_matches_pyspark():
    assert _dependencies("spark")["spark-sql-kafka-0-10_2.13"] == version("pyspark")


def test_artifact_name_drops_the_version():
    assert artifact_name(Path("jackson-core-2.13.5.jar")) == "jackson-core"
    assert artifact_name(Path("delta-spark_4.1_2.13-4.3.1.jar")) == "delta-spark_4.1_2.13"
    assert artifact_name(Path("zstd-jni-1.5.7-3.jar")) == "zstd-jni"


def test_metastore_derby_matches_the_derby_pyspark_ships():
    from foundation.jars import pyspark_jars_dir

    shipped = {artifact_name(j): j.stem.rsplit("-", 1)[1] for j in pyspark_jars_dir().glob("derby*.jar")}
    deps = _dependencies("metastore")
    assert deps["derbyclient"] == deps["derbynet"] == shipped["derby"]


def test_hive_llap_common_matches_the_hive_pyspark_ships():
    from foundation.jars import pyspark_jars_dir

    (hive_exec,) = pyspark_jars_dir().glob("hive-exec-*.jar")
    assert _dependencies("spark")["hive-llap-common"] == hive_exec.stem.split("-")[2]



def test_every_pom_has_its_jars_pinned():
    from foundation.jars import BUNDLES, pinned_checksums

    for bundle in BUNDLES:
        assert pinned_checksums(bundle), f"no checksums pinned for the {bundle} jars"


def test_a_jar_that_differs_from_its_pinned_checksum_is_refused(tmp_path, settings):
    import pytest

    from foundation.errors import ReelhouseError
    from foundation.jars import pinned_checksums, resolve, verify_checksums

    fetched = {jar.name: jar for jar in resolve("metastore", settings.jars_cache)}
    for name in pinned_checksums("metastore"):
        (tmp_path / name).write_bytes(fetched[name].read_bytes())
    verify_checksums("metastore", tmp_path)  # as fetched: accepted
    tampered = tmp_path / sorted(pinned_checksums("metastore"))[0]
    tampered.write_bytes(tampered.read_bytes() + b"\0")
    with pytest.raises(ReelhouseError, match=f"{tampered.name} of the metastore jars does not match"):
        verify_checksums("metastore", tmp_path)
    tampered.unlink()
    (tmp_path / "intruder-1.0.jar").write_bytes(b"PK")
    with pytest.raises(ReelhouseError, match="intruder-1.0.jar of the metastore jars has no pinned checksum"):
        verify_checksums("metastore", tmp_path)


def test_the_kafka_jars_carry_commons_beanutils_with_the_cve_fix(settings):
    from foundation.jars import resolve

    beanutils = [jar.name for jar in resolve("kafka", settings.jars_cache) if jar.name.startswith("commons-beanutils-")]
    assert beanutils == ["commons-beanutils-1.11.0.jar"]  # CVE-2025-48734 is fixed from 1.11.0
