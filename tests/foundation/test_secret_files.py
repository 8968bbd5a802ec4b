"""A secret is read only from a file its owner alone can read."""

import pytest

from foundation.errors import ReelhouseError
from foundation.secret_files import read_secret


def test_a_secret_in_an_owner_only_file_is_read_without_its_newline(tmp_path):
    path = tmp_path / "secret"
    path.write_text("s3cr3t\n")
    path.chmod(0o600)
    assert read_secret(path) == "s3cr3t"


@pytest.mark.parametrize(("mode", "text", "message"), [
    (0o644, "s3cr3t", r"is readable by others \(mode 644\): `chmod 600"),
    (0o640, "s3cr3t", r"is readable by others \(mode 640\)"),
    (0o600, "\n", "is empty"),
])
def test_a_file_others_can_read_or_an_empty_one_is_refused(tmp_path, mode, text, message):
    path = tmp_path / "secret"
    path.write_text(text)
    path.chmod(mode)
    with pytest.raises(ReelhouseError, match=message):
        read_secret(path)


def test_a_missing_secret_file_is_one_line(tmp_path):
    with pytest.raises(ReelhouseError, match="cannot read the secret file .*: No such file or directory"):
        read_secret(tmp_path / "absent")


def test_a_written_secret_is_owner_only_even_over_a_file_others_could_read(tmp_path):
    from foundation.secret_files import write_private_text

    path = tmp_path / "hive-site.xml"
    path.write_text("old")
    path.chmod(0o644)
    write_private_text(path, "new")
    assert (path.read_text(), path.stat().st_mode & 0o777) == ("new", 0o600)
    with pytest.raises(FileExistsError):
        write_private_text(path, "again", exclusive=True)
    assert path.read_text() == "new"
