"""`reelhouse jars`: the class archive is a start-up saving, so failing to record it warns and goes on."""

from foundation import spark as factory
from foundation.errors import ReelhouseError
from reelhouse.cli import operations


def test_a_class_archive_that_cannot_be_recorded_is_a_warning_not_a_failure(settings, monkeypatch, capsys):
    def fail(_settings):
        raise ReelhouseError("could not record the Spark class archive: java died")

    monkeypatch.setattr(factory, "record_class_archives", fail)
    operations._jars(settings, None)
    said = capsys.readouterr()
    assert said.err == ("reelhouse: warning: could not record the Spark class archive: java died; "
                        "Spark starts without a class archive\n")
    assert f"cache: {settings.jars_cache}" in said.out  # the rest of the command ran
