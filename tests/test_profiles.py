import pytest

from genai_course import lab_budget, profiles
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
    with pytest.raises(ProfileError, match="tiny, cpu, full, auto"):
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


@pytest.mark.parametrize(
    "online,cuda,expected,why",
    [
        (True, True, "full", "the test's reason and a CUDA GPU is visible"),
        (True, False, "cpu", "the test's reason but no CUDA GPU is visible"),
        (False, True, "tiny", "the test's reason"),
        (False, False, "tiny", "the test's reason"),
    ],
)
def test_auto_says_what_it_chose_and_why(monkeypatch, capsys, online, cuda, expected, why):
    monkeypatch.setattr(profiles, "hub_reachable", lambda: (online, "the test's reason"))
    monkeypatch.setattr(profiles.torch.cuda, "is_available", lambda: cuda)
    profile = get_profile("auto")
    assert profile.name == expected
    assert f"auto -> {expected}: {why}" in capsys.readouterr().out
    assert profile.notes[0].startswith(f"auto chose '{expected}' because {why}")


def test_cpu_profile_uses_the_real_models_with_laptop_budgets():
    cpu, full = get_profile("cpu"), get_profile("full")
    assert (cpu.summarizer, cpu.reward_model, cpu.dataset) == (full.summarizer, full.reward_model, full.dataset)
    assert (cpu.device, cpu.dtype, cpu.is_tiny) == ("cpu", "float32", False)
    assert cpu.train_examples is not None and cpu.n_eval <= full.n_eval


def test_cpu_profile_fits_its_time_budget_on_the_assumed_laptop():
    minutes = lab_budget.lab_minutes(get_profile("cpu"), lab_budget.laptop_times(get_profile("cpu").summarizer))
    assert set(minutes) == {"lab1", "lab2", "lab3"}
    assert all(0 < m <= lab_budget.CPU_PROFILE_MINUTES for m in minutes.values()), minutes
    slower = lab_budget.MEASURED_ONE_THREAD[get_profile("cpu").summarizer].scaled(2.5)  # a margin for the assumption
    assert max(lab_budget.lab_minutes(get_profile("cpu"), slower).values()) <= lab_budget.CPU_PROFILE_MINUTES
    # ... and the full profile would not (a whole epoch of DialogSum on a CPU): the estimate can tell them apart.
    assert lab_budget.lab_minutes(get_profile("full"), lab_budget.laptop_times("google/flan-t5-base"))["lab2"] > 60


def test_hub_offline_flag_short_circuits(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert profiles.hub_reachable() == (False, "HF_HUB_OFFLINE is set")


def test_describe_names_models():
    text = Profile(name="x", summarizer="s", reward_model="r", dataset="d").describe()
    assert "summarizer=s" in text and "dataset=d" in text


def test_the_ppo_kl_weight_reaches_ppo_and_refuses_a_negative_value():
    from genai_course.rlhf import PPOConfig  # noqa: PLC0415 - only this test needs the PPO stack

    assert PPOConfig.from_profile(get_profile("full")).init_kl_coef == 0.2  # the course's beta
    assert PPOConfig.from_profile(get_profile("tiny")).init_kl_coef == 0.4
    assert PPOConfig.from_profile(get_profile("tiny", ppo_init_kl_coef=0.0)).init_kl_coef == 0.0
    for bad in (-0.1, float("nan"), "0.4", True):
        with pytest.raises(ProfileError, match="ppo_init_kl_coef must be a number >= 0"):
            get_profile("tiny", ppo_init_kl_coef=bad)
