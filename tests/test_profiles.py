import pytest

from genai_course import profiles
from genai_course.profiles import Profile, ProfileError, get_profile


def test_tiny_profile_points_into_the_tiny_world(tmp_path, monkeypatch):
    monkeypatch.setenv("GENAI_COURSE_HOME", str(tmp_path))
    profile = get_profile("tiny")
    assert profile.is_tiny and profile.device == "cpu"
    assert profile.summarizer.startswith(str(tmp_path))
    assert profile.dataset == "tiny"


def test_full_profile_uses_the_course_models():
    profile = get_profile("full")
    assert profile.summarizer == "google/flan-t5-base"
    assert profile.dataset == "knkarthick/dialogsum"
    assert profile.reward_model == "facebook/roberta-hate-speech-dynabench-r4-target"


def test_environment_variable_selects_the_profile(monkeypatch):
    monkeypatch.setenv("GENAI_COURSE_PROFILE", "full")
    assert get_profile().name == "full"
    monkeypatch.setenv("GENAI_COURSE_PROFILE", " Tiny ")
    assert get_profile().name == "tiny"


def test_argument_beats_environment(monkeypatch):
    monkeypatch.setenv("GENAI_COURSE_PROFILE", "full")
    assert get_profile("tiny").name == "tiny"


def test_unknown_profile_lists_the_valid_ones(monkeypatch):
    with pytest.raises(ProfileError, match="tiny, full, auto"):
        get_profile("huge")
    monkeypatch.setenv("GENAI_COURSE_PROFILE", "nope")
    with pytest.raises(ProfileError, match=r"GENAI_COURSE_PROFILE"):
        get_profile()


def test_overrides_apply_and_unknown_fields_are_rejected():
    profile = get_profile("full", summarizer="/models/my-flan", n_eval=7)
    assert (profile.summarizer, profile.n_eval) == ("/models/my-flan", 7)
    with pytest.raises(ProfileError, match="n_evl"):
        get_profile("full", n_evl=7)
    with pytest.raises(ProfileError, match="Known fields"):
        profile.replace(colour="red")


@pytest.mark.parametrize("online,expected", [(True, "full"), (False, "tiny")])
def test_auto_says_what_it_chose_and_why(monkeypatch, capsys, online, expected):
    monkeypatch.setattr(profiles, "hub_reachable", lambda: (online, "because of the test"))
    profile = get_profile("auto")
    assert profile.name == expected
    assert f"auto -> {expected}: because of the test" in capsys.readouterr().out
    assert profile.notes == [f"auto chose '{expected}' because because of the test"]


def test_hub_offline_flag_short_circuits(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert profiles.hub_reachable() == (False, "HF_HUB_OFFLINE is set")


def test_describe_names_models():
    text = Profile(name="x", summarizer="s", reward_model="r", dataset="d").describe()
    assert "summarizer=s" in text and "dataset=d" in text
