"""PFSP weights against their formulas, sampled frequencies against the weights, and errors."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from marl.league.matchmaking import WEIGHTINGS, pfsp_choice, pfsp_weights, sample_kind

RATES = np.array([0.0, 0.25, 0.5, 1.0])
DRAWS = 20_000


@pytest.mark.parametrize(
    ("weighting", "p", "unnormalized"),
    [
        ("hard", 2.0, [1.0, 0.5625, 0.25, 0.0]),  # (1 - x)^2
        ("hard", 1.0, [1.0, 0.75, 0.5, 0.0]),  # p = 1 is linear
        ("hard", 3.0, [1.0, 0.421875, 0.125, 0.0]),
        ("variance", 2.0, [0.0, 0.1875, 0.25, 0.0]),  # x (1 - x)
        ("linear", 2.0, [1.0, 0.75, 0.5, 0.0]),
        ("uniform", 2.0, [1.0, 1.0, 1.0, 1.0]),
    ],
)
def test_weights_follow_the_formulas(weighting, p, unnormalized):
    expected = np.array(unnormalized) / sum(unnormalized)
    np.testing.assert_allclose(pfsp_weights(RATES, weighting, p), expected, rtol=1e-12)


@pytest.mark.parametrize("weighting", ["hard", "linear", "variance"])
def test_no_weight_anywhere_falls_back_to_uniform(weighting):
    rates = np.ones(3) if weighting != "variance" else np.array([0.0, 1.0, 1.0])
    np.testing.assert_array_equal(pfsp_weights(rates, weighting), np.full(3, 1 / 3))


@given(
    rates=st.lists(st.floats(0.0, 1.0), min_size=1, max_size=20),
    weighting=st.sampled_from(WEIGHTINGS),
    p=st.floats(0.1, 10.0),
)
def test_weights_are_a_distribution(rates, weighting, p):
    weights = pfsp_weights(np.array(rates), weighting, p)
    assert weights.shape == (len(rates),)
    assert np.all(weights >= 0.0)
    assert weights.sum() == pytest.approx(1.0, abs=1e-12)


def within_binomial_noise(counts: np.ndarray, probabilities: np.ndarray) -> None:
    """Each frequency within 5 binomial standard deviations of its probability: a correct
    sampler fails such a check with probability about 6e-7 per entry (and the rng is seeded, so
    the outcome is fixed anyway); a weight off by 0.02 would fail it, as 5 sd is at most
    5 * 0.5 / sqrt(20000) = 0.018."""
    frequencies = counts / counts.sum()
    sd = np.sqrt(probabilities * (1 - probabilities) / counts.sum())
    assert np.all(np.abs(frequencies - probabilities) <= 5 * sd + 1e-12), (
        frequencies,
        probabilities,
    )


def test_pfsp_choice_draws_with_the_weights():
    rng = np.random.default_rng(2024)
    candidates = ["a", "b", "c", "d"]
    rates = np.array([0.1, 0.4, 0.6, 0.95])
    draws = [pfsp_choice(rng, candidates, rates) for _ in range(DRAWS)]
    counts = np.array([draws.count(c) for c in candidates])
    within_binomial_noise(counts, pfsp_weights(rates))


def test_pfsp_choice_never_draws_a_weightless_candidate_and_repeats_with_the_seed():
    candidates = ["beaten", "even", "unbeaten"]
    first = [pfsp_choice(np.random.default_rng(3), candidates, RATES[[3, 2, 0]]) for _ in range(5)]
    rng = np.random.default_rng(3)
    draws = [pfsp_choice(rng, candidates, RATES[[3, 2, 0]]) for _ in range(2000)]
    assert "beaten" not in draws
    again = np.random.default_rng(3)
    assert [pfsp_choice(again, candidates, RATES[[3, 2, 0]]) for _ in range(2000)] == draws
    assert first == [draws[0]] * 5


def test_sample_kind_draws_in_proportion_to_the_mix():
    rng = np.random.default_rng(11)
    mix = {"self": 35.0, "pfsp": 50.0, "exploiter": 15.0, "never": 0.0}
    draws = [sample_kind(rng, mix) for _ in range(DRAWS)]
    counts = np.array([draws.count(kind) for kind in mix])
    assert counts[3] == 0
    within_binomial_noise(counts, np.array([0.35, 0.5, 0.15, 0.0]))


@pytest.mark.parametrize(
    ("kwargs", "named"),
    [
        ({"weighting": "hardest"}, "weighting"),
        ({"p": 0.0}, "p"),
        ({"p": -1.0}, "p"),
        ({"p": float("nan")}, "p"),
        ({"win_rates": np.array([0.5, float("nan")])}, "win_rates"),
        ({"win_rates": np.array([0.5, 1.2])}, "win_rates"),
        ({"win_rates": np.array([-0.1])}, "win_rates"),
        ({"win_rates": np.array([])}, "win_rates"),
        ({"win_rates": np.full((2, 2), 0.5)}, "win_rates"),
    ],
)
def test_bad_pfsp_arguments_raise_naming_the_argument(kwargs, named):
    arguments = {"win_rates": RATES, **kwargs}
    with pytest.raises(ValueError, match=named):
        pfsp_weights(**arguments)


def test_pfsp_choice_needs_one_rate_per_candidate():
    with pytest.raises(ValueError, match="candidates"):
        pfsp_choice(np.random.default_rng(0), ["a", "b"], np.array([0.5]))


@pytest.mark.parametrize(
    "mix", [{}, {"a": 0.0, "b": 0.0}, {"a": 1.0, "b": -0.5}, {"a": float("nan")}]
)
def test_a_bad_mix_raises(mix):
    with pytest.raises(ValueError, match="mix"):
        sample_kind(np.random.default_rng(0), mix)
