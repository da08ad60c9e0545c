"""The cost measurements' forecast: a long run says how long it will take once its first steps are timed."""

from types import SimpleNamespace

from genai_course.cost import FORECAST_AFTER, LONG_RUN_S, StepTimer, forecast


def test_forecast_says_the_time_left_of_a_long_run_only():
    assert forecast(5, 400, 1.5, "training steps") == (
        "[genai-course] 5 of 400 training steps done at 1.5 s each: about 10 min left at this pace"
    )
    assert forecast(5, 10, 1.5) is None  # 7.5 s left: the progress bar is enough
    assert forecast(0, 100, LONG_RUN_S / 100) is not None  # exactly the threshold counts as long
    assert forecast(500, 400, 10.0) is None  # nothing left (resumed past the end): no warning


def _state(max_steps: int, main: bool = True) -> SimpleNamespace:
    return SimpleNamespace(global_step=0, max_steps=max_steps, is_world_process_zero=main)


def _run_steps(timer: StepTimer, n: int, state: SimpleNamespace) -> None:
    for _ in range(n):
        timer.on_step_begin(None, state, None)
        state.global_step += 1
        timer.on_step_end(None, state, None)


def test_step_timer_prints_the_forecast_once_after_the_warm_up_steps(capsys):
    timer, state = StepTimer(), _state(max_steps=10**12)
    _run_steps(timer, FORECAST_AFTER, state)
    assert capsys.readouterr().out == ""  # the first (warm-up) step and FORECAST_AFTER - 1 more: too early
    _run_steps(timer, 3, state)
    printed = capsys.readouterr().out.splitlines()
    assert len(printed) == 1 and printed[0].startswith(f"[genai-course] {FORECAST_AFTER + 1} of ")
    assert "min left at this pace" in printed[0]


def test_step_timer_stays_quiet_on_a_short_run_and_on_other_processes(capsys):
    _run_steps(StepTimer(), FORECAST_AFTER + 3, _state(max_steps=FORECAST_AFTER + 3))
    _run_steps(StepTimer(), FORECAST_AFTER + 3, _state(max_steps=10**12, main=False))
    assert capsys.readouterr().out == ""
