"""An alert fires once per episode, after its hold time, and resolves once."""

from __future__ import annotations

from board.alerts.episodes import Episode, Phase, step

MINUTE = 60_000


def test_fires_after_the_hold_once_and_resolves_once() -> None:
    episode = Episode()
    episode, change = step(episode, True, 1200, 0, 10 * MINUTE)
    assert change is None and episode.phase is Phase.PENDING
    episode, change = step(episode, True, 1300, 9 * MINUTE, 10 * MINUTE)
    assert change is None
    episode, change = step(episode, True, 1400, 10 * MINUTE, 10 * MINUTE)
    assert change is not None and change.fired and episode.phase is Phase.FIRING and episode.since_ms == 0
    episode, change = step(episode, True, 1500, 11 * MINUTE, 10 * MINUTE)
    assert change is None and episode.value == 1500
    episode, change = step(episode, False, 10, 12 * MINUTE, 10 * MINUTE)
    assert change is not None and not change.fired and change.episode.fired_ms == 10 * MINUTE
    assert episode.phase is Phase.OK
    episode, change = step(episode, False, 10, 13 * MINUTE, 10 * MINUTE)
    assert change is None


def test_a_condition_that_clears_before_the_hold_never_fires() -> None:
    episode, _ = step(Episode(), True, 5, 0, 5 * MINUTE)
    episode, change = step(episode, False, 0, MINUTE, 5 * MINUTE)
    assert change is None and episode.phase is Phase.OK
    # The clock starts again.
    episode, change = step(episode, True, 5, 2 * MINUTE, 5 * MINUTE)
    episode, change = step(episode, True, 5, 6 * MINUTE, 5 * MINUTE)
    assert change is None and episode.since_ms == 2 * MINUTE


def test_no_hold_fires_at_once() -> None:
    _, change = step(Episode(), True, 1, 0, 0)
    assert change is not None and change.fired


def test_the_state_survives_a_round_trip_and_garbage_starts_fresh() -> None:
    firing = Episode(Phase.FIRING, 1, 2, 3.5)
    assert Episode.from_fields(firing.to_fields()) == firing
    for text in (None, "", "firing|x|2|3", "burning|1|2|3", "ok|1|2"):
        assert Episode.from_fields(text) == Episode()
