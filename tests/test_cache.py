import pytest

from genai_course.cache import atomic_directory, course_home


def test_course_home_follows_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("GENAI_COURSE_HOME", str(tmp_path / "h"))
    assert course_home() == tmp_path / "h"


def test_atomic_directory_publishes_only_complete_builds(tmp_path):
    final = tmp_path / "world"
    with pytest.raises(KeyboardInterrupt):
        with atomic_directory(final) as tmp:
            (tmp / "half.txt").write_text("half")
            raise KeyboardInterrupt  # a learner pressing Ctrl-C mid-build
    assert not final.exists()
    assert not list(tmp_path.glob("world.partial-*"))
    with atomic_directory(final) as tmp:
        (tmp / "done.txt").write_text("done")
    assert (final / "done.txt").read_text() == "done"


def test_stale_partial_folders_are_cleaned(tmp_path):
    stale = tmp_path / "world.partial-abc"
    stale.mkdir()
    with atomic_directory(tmp_path / "world"):
        pass
    assert not stale.exists()
