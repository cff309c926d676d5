"""The counter-based generator (SPEC section 6): Philox4x32-10, equal to randomgen's, and its variates."""

import math

import numba
import numpy as np
import pytest
import scipy.stats
from hypothesis import given
from hypothesis import strategies as st
from randomgen import Philox

from saddle import rng
from tests.reference import latent_from_words, philox_words, uniforms53

u32 = st.integers(min_value=0, max_value=2**32 - 1)
u64 = st.integers(min_value=0, max_value=2**64 - 1)


def test_philox4x32_known_answers():
    """The known-answer vectors of Random123 (kat_vectors: philox4x32_10)."""
    out = np.empty(4, dtype=np.uint64)
    for ctr, key, want in [
        ((0, 0, 0, 0), (0, 0), (0x6627E8D5, 0xE169C58D, 0xBC57AC4C, 0x9B00DBD8)),
        ((2**32 - 1,) * 4, (2**32 - 1,) * 2, (0x408F276D, 0x41C83B0E, 0xA20BC7C6, 0x6D5451FD)),
        (
            (0x243F6A88, 0x85A308D3, 0x13198A2E, 0x03707344),
            (0xA4093822, 0x299F31D0),
            (0xD16CFE09, 0x94FDCCEB, 0x5001E420, 0x24126EA1),
        ),
    ]:
        rng.philox4x32(*[np.uint64(c) for c in ctr], *[np.uint64(k) for k in key], out)
        assert [int(w) for w in out] == list(want)


@given(k0=u32, k1=u32, c1=u32, c2=u32, c3=u32, c0=st.integers(0, 2**32 - 2))
def test_philox_block_equals_randomgen_philox4x32(k0, k1, c0, c1, c2, c3):
    out = np.empty(4, dtype=np.uint64)
    rng.philox4x32(np.uint64(c0 + 1), np.uint64(c1), np.uint64(c2), np.uint64(c3), np.uint64(k0), np.uint64(k1), out)
    bitgen = Philox(number=4, width=32, key=k0 | k1 << 32, counter=c0 | c1 << 32 | c2 << 64 | c3 << 96)
    np.testing.assert_array_equal(out, bitgen.random_raw(4))


@given(
    seed=u64,
    trial=st.integers(0, rng.MAX_TRIAL),
    t=st.integers(0, rng.MAX_STEP),
    m=st.integers(1, rng.MAX_M),
    purpose=st.sampled_from([rng.DATA, rng.NOISE, rng.PERTURB, rng.START]),
    n=st.integers(1, 50),
)
def test_stream_layout_is_randomgen_philox_from_counter_zero(seed, trial, t, m, purpose, n):
    np.testing.assert_array_equal(rng.words(seed, trial, t, m, purpose, n), philox_words(seed, trial, t, m, purpose, n))


@given(
    seed=u64,
    trial=st.integers(0, rng.MAX_TRIAL),
    t=st.integers(0, rng.MAX_STEP),
    m=st.integers(1, rng.MAX_M),
    purpose=st.sampled_from([rng.DATA, rng.NOISE]),
    j=st.integers(0, 40),
    n=st.integers(1, 23),
)
def test_several_blocks_at_once_are_the_blocks_one_by_one(seed, trial, t, m, purpose, j, n):
    """stream_blocks (the vectorised loop) draws the blocks that stream_block draws one at a time."""
    many = np.empty(4 * n, np.uint64)
    rng.stream_blocks(np.uint64(seed), np.uint64(trial), t, m, purpose, j, many)
    one = np.empty(4, np.uint64)
    for b in range(n):
        rng.stream_block(np.uint64(seed), np.uint64(trial), t, m, purpose, j + b, one)
        np.testing.assert_array_equal(many[4 * b : 4 * b + 4], one)


def test_stream_layout_at_the_ends_of_its_ranges():
    """Each field of the counter at its largest value, and the key's two words, against randomgen."""
    for seed, trial, t, m, purpose in [
        (2**64 - 1, rng.MAX_TRIAL, rng.MAX_STEP, rng.MAX_M, rng.START),
        (2**32, 0, 0, 1, rng.DATA),
        (2**32 - 1, 1, 1, 2, rng.NOISE),
    ]:
        np.testing.assert_array_equal(
            rng.words(seed, trial, t, m, purpose, 9), philox_words(seed, trial, t, m, purpose, 9)
        )
    # the last block of a step's stream: counter word 0 = 2**32 - 1
    last = np.empty(4, np.uint64)
    rng.stream_block(np.uint64(5), np.uint64(6), 7, 8, rng.DATA, rng.MAX_BLOCKS - 1, last)
    bitgen = Philox(number=4, width=32, key=5, counter=(2**32 - 2) | 6 << 32 | 7 << 64 | (8 - 1) << 96)
    np.testing.assert_array_equal(last, bitgen.random_raw(4))


@pytest.mark.parametrize(
    "args", [(-1, 0, 1, 1), (2**64, 0, 1, 1), (0, 2**32, 1, 1), (0, 0, 2**32, 1), (0, 0, 1, 0), (0, 0, 1, 2**30 + 1)]
)
def test_values_outside_the_layout_s_ranges_are_refused(args):
    with pytest.raises(ValueError, match="range of saddle's random streams"):
        rng.words(*args, rng.DATA, 4)


def test_run_trials_refuses_trials_beyond_the_layout():
    from saddle.kernels import run_trials
    from saddle.objectives import SpikeTensor

    obj = SpikeTensor(4, "uniform")
    with pytest.raises(ValueError, match="trial index"):
        run_trials(
            obj,
            obj.saddle(2),
            optimizer="sgd",
            batch_size=1,
            eta=0.1,
            sigma_iso=0.0,
            delta=0.1,
            radius=None,
            max_steps=10,
            seed=0,
            trial_start=2**32 - 1,
            n_trials=2,
        )


@given(seed=u64, trial=st.integers(0, rng.MAX_TRIAL), m=st.integers(1, rng.MAX_M), d=st.integers(1, 13))
def test_uniforms_are_the_53_bit_uniforms_of_the_stream_words(seed, trial, m, d):
    """fill_uniforms (random starts on R^d) uses 64-bit word q = w[2q] + 2**32 w[2q + 1] for uniform q."""
    out, block = np.empty(d), np.empty(4, np.uint64)
    rng.fill_uniforms(np.uint64(seed), np.uint64(trial), 0, m, rng.START, out, block)
    np.testing.assert_array_equal(out, uniforms53(philox_words(seed, trial, 0, m, rng.START, 2 * d)))


def test_streams_of_different_keys_steps_and_purposes_differ():
    base = rng.words(7, 3, 5, 4, rng.DATA, 8)
    for other in [
        (8, 3, 5, 4, rng.DATA),
        (7 + 2**32, 3, 5, 4, rng.DATA),
        (7, 4, 5, 4, rng.DATA),
        (7, 3, 6, 4, rng.DATA),
        (7, 3, 5, 5, rng.DATA),
        (7, 3, 5, 4, rng.NOISE),
    ]:
        assert not np.any(rng.words(*other, 8) == base)


@given(
    seed=u64,
    trial=st.integers(0, rng.MAX_TRIAL),
    t=st.integers(0, rng.MAX_STEP),
    m=st.integers(1, rng.MAX_M),
    j=st.integers(0, 40),
    n=st.integers(1, 23),
)
def test_word_doubles_are_the_stream_words(seed, trial, t, m, j, n):
    """stream_word_doubles stores the words of stream_blocks as the doubles 2**52 + h, exactly."""
    words = np.empty(4 * n, np.uint64)
    rng.stream_blocks(np.uint64(seed), np.uint64(trial), t, m, rng.DATA, j, words)
    doubles = np.empty(4 * n, np.uint64)
    rng.stream_word_doubles(np.uint64(seed), np.uint64(trial), t, m, rng.DATA, j, n, doubles)
    np.testing.assert_array_equal(doubles.view(np.float64) - 2.0**52, words.astype(np.float64))


@numba.njit  # not cached: a cache would not see a change to saddle.rng
def _lane_word_doubles(key0, keys, ts, m, j0, nb, out, row):
    rng.lane_word_doubles(key0, keys, ts, m, rng.DATA, j0, nb, out, row)


@given(
    seed=u64,
    trial0=st.integers(0, rng.MAX_TRIAL - rng.TRIAL_LANES),
    ts=st.lists(st.integers(0, rng.MAX_STEP), min_size=rng.TRIAL_LANES, max_size=rng.TRIAL_LANES),
    m=st.integers(1, rng.MAX_M),
    j0=st.integers(0, 40),
    nb=st.integers(1, 3 * rng.LANE_DRAW_BLOCKS + 1),
    row=st.integers(0, 3),
)
def test_lane_word_doubles_are_each_lanes_stream(seed, trial0, ts, m, j0, nb, row):
    """lane_word_doubles gives lane r, row row + q, the word q that stream_word_doubles gives trial r
    alone, for block counts below, at and past the blocks it draws at once; no other row is written."""
    keys = np.arange(trial0, trial0 + rng.TRIAL_LANES, dtype=np.uint64)
    steps = np.array(ts, dtype=np.uint64)
    out = np.full((row + 4 * nb + 2, rng.TRIAL_LANES), 7, dtype=np.uint64)
    _lane_word_doubles(np.uint64(seed), keys, steps, m, j0, nb, out, row)
    for r in range(rng.TRIAL_LANES):
        want = np.empty(4 * nb, np.uint64)
        rng.stream_word_doubles(np.uint64(seed), keys[r], steps[r], m, rng.DATA, j0, nb, want)
        np.testing.assert_array_equal(out[row : row + 4 * nb, r], want)
    assert np.all(out[:row] == 7) and np.all(out[row + 4 * nb :] == 7)


@pytest.mark.parametrize("code", [rng.UNIFORM, rng.RADEMACHER, rng.LAPLACE])
def test_variates_in_place_equal_data_variate_bit_for_bit(code):
    """data_variates_in_place (the gradients' tile loop) gives data_variate's numbers, bit for bit, on
    4096 stream words and the edge words 0, 1, 2**31 - 1, 2**31, 2**32 - 1."""
    words = rng.words(7, 8, 9, 10, rng.DATA, 4096).astype(np.uint64)
    words = np.concatenate([words, np.array([0, 1, 2**31 - 1, 2**31, 2**32 - 1], dtype=np.uint64)])
    x = (words | rng.TWO52_BITS).view(np.float64).copy()
    rng.data_variates_in_place(x, x.shape[0], code)
    want = np.array([rng.data_variate(h, code) for h in words])
    np.testing.assert_array_equal(x.view(np.uint64), want.view(np.uint64))


@pytest.mark.parametrize("dist", ["uniform", "rademacher", "laplace"])
def test_kernel_variate_transform_equals_reference_transform(dist):
    code = {"uniform": rng.UNIFORM, "rademacher": rng.RADEMACHER, "laplace": rng.LAPLACE}[dist]
    words = rng.words(1, 2, 3, 4, rng.DATA, 8192).astype(np.uint64)
    words = np.concatenate([words, np.array([0, 1, 2**31 - 1, 2**31, 2**32 - 1], dtype=np.uint64)])
    scalar = np.array([rng.data_variate(h, code) for h in words])
    # Equal up to the last bit or two: NumPy's vectorised log and libm's may round differently.
    np.testing.assert_array_max_ulp(scalar, rng.data_variates(words, code), maxulp=2)
    np.testing.assert_array_max_ulp(scalar, latent_from_words(words, dist), maxulp=4)


# Moments of 400,000 variates per distribution; each checked at |z| < 5 against its exact value,
# where z uses the exact standard error of the sample moment (two-sided, about 6e-7 per check).
N_MOMENTS = 400_000


@pytest.mark.parametrize(
    "dist, code", [("uniform", rng.UNIFORM), ("rademacher", rng.RADEMACHER), ("laplace", rng.LAPLACE)]
)
def test_data_variates_have_mean_0_variance_1_and_the_spec_kurtosis(dist, code):
    z = rng.data_variates(rng.words(11, 0, 1, 1, rng.DATA, N_MOMENTS), code)
    kappa = {"uniform": -1.2, "rademacher": -2.0, "laplace": 3.0}[dist]
    m4 = 3.0 + kappa
    m8 = {"uniform": 81.0 / 9.0, "rademacher": 1.0, "laplace": 40320.0 / 16.0}[dist]  # E z^8
    n = z.size
    assert abs(z.mean()) < 5 * np.sqrt(1.0 / n)
    assert abs((z**2).mean() - 1.0) < 5 * np.sqrt((m4 - 1.0) / n) + 1e-12
    assert abs((z**4).mean() - m4) < 5 * np.sqrt((m8 - m4**2) / n) + 1e-12


@pytest.mark.parametrize(
    "dist, code, law",
    [
        ("uniform", rng.UNIFORM, scipy.stats.uniform(-np.sqrt(3), 2 * np.sqrt(3))),
        ("laplace", rng.LAPLACE, scipy.stats.laplace(scale=1 / np.sqrt(2))),
    ],
)
def test_data_variates_follow_their_law_ks(dist, code, law):
    """One-sample KS test, 100,000 variates, significance level 0.001."""
    z = rng.data_variates(rng.words(12, 0, 1, 1, rng.DATA, 100_000), code)
    assert scipy.stats.kstest(z, law.cdf).pvalue > 1e-3


# Normals: 2 * 10**6 variates of one stream (rng.normals, i.e. fill_normals).
N_NORMALS = 2_000_000


@pytest.fixture(scope="module")
def many_normals():
    return rng.normals(13, 0, 1, 1, rng.NOISE, N_NORMALS)


def test_normals_are_standard_normal_ks(many_normals):
    """Box-Muller on 53-bit uniforms: one-sample KS against N(0, 1), 2 * 10**6 variates, level 0.001
    (the KS distance is then below 1.4e-3: the law is checked to that resolution in the body)."""
    assert scipy.stats.kstest(many_normals, "norm").pvalue > 1e-3


@pytest.mark.parametrize("x", [2.0, 3.0, 4.0, 5.0])
def test_normal_tail_frequencies_match_the_exact_tail(many_normals, x):
    """The count of |z| > x against n P(|z| > x) = n erfc(x / sqrt 2): Poisson-like, so within
    5 sqrt(expected) + 3 (two-sided level about 1e-6 at x <= 4; at x = 5, expected 1.15, the bound 8.4
    rejects a tail 7x too heavy).  The largest |z| is at most sqrt(-2 log(2**-54)) = 8.65 by construction."""
    expected = N_NORMALS * math.erfc(x / math.sqrt(2.0))
    count = int(np.count_nonzero(np.abs(many_normals) > x))
    assert abs(count - expected) <= 5 * math.sqrt(expected) + 3
    assert np.abs(many_normals).max() <= math.sqrt(-2.0 * math.log(2.0**-54))


def test_normal_far_tail_over_many_streams():
    """10**7 normals over 5 keys: counts beyond |z| = 4.5 and 5 within 5 sqrt(expected) + 3 of
    n erfc(x / sqrt 2) (expected 68 and 5.7)."""
    z = np.concatenate([rng.normals(21, trial, 3, 1, rng.DATA, 2_000_000) for trial in range(5)])
    for x in (4.5, 5.0):
        expected = z.size * math.erfc(x / math.sqrt(2.0))
        assert abs(np.count_nonzero(np.abs(z) > x) - expected) <= 5 * math.sqrt(expected) + 3


def test_normal_pairs_are_independent_coordinates(many_normals):
    """Box-Muller gives independent pairs: correlation of normals 2j and 2j + 1 within 5 / sqrt(n)."""
    a, b = many_normals[0::2], many_normals[1::2]
    assert abs(np.corrcoef(a, b)[0, 1]) < 5 / math.sqrt(a.size)
    assert abs(np.corrcoef(a * a, b * b)[0, 1]) < 5 / math.sqrt(a.size)


def test_normals_equal_the_reference_transform_on_the_same_words():
    """fill_normals equals tests.reference.normals (the same Box-Muller arithmetic written in NumPy, on
    randomgen's words) bit for bit, odd lengths and offsets included."""
    from tests.reference import normals as reference_normals

    for key in [(3, 4, 5, 6, rng.NOISE), (2**64 - 1, rng.MAX_TRIAL, 10**6, 1024, rng.START), (0, 0, 1, 1, rng.DATA)]:
        for n in (1, 2, 7, 20_001):
            np.testing.assert_array_equal(rng.normals(*key, n), reference_normals(*key, n))


def _log_and_turn(u):
    import numba

    @numba.njit
    def run(u, lg, c, s):
        for i in range(u.size):
            lg[i] = rng.log_unit(u[i])
            c[i], s[i] = rng.cos_sin_turn(u[i])

    lg, c, s = np.empty_like(u), np.empty_like(u), np.empty_like(u)
    run(u, lg, c, s)
    return lg, c, s


def test_box_muller_log_cos_sin_are_accurate():
    """On 10**6 random 53-bit uniforms and the ends of (0, 1]: log_unit within 1 ulp of NumPy's log
    (itself within an ulp), cos_sin_turn within 3e-16 of cos and sin of 2 pi g (NumPy's, long double
    argument), so the normals are Box-Muller's up to double rounding."""
    x = np.random.default_rng(5).integers(0, 2**53, size=10**6, dtype=np.uint64)
    ends = np.concatenate([np.arange(64), 2**53 - 1 - np.arange(64), np.arange(1, 8) << 50]).astype(np.uint64)
    u = (np.concatenate([x, ends]).astype(np.float64) + 0.5) * 2.0**-53
    lg, c, s = _log_and_turn(u)
    assert np.all(np.abs(lg - np.log(u)) <= np.spacing(np.abs(np.log(u))))
    phi = 2 * np.longdouble("3.14159265358979323846264338327950288") * u.astype(np.longdouble)
    assert float(np.max(np.abs(c - np.cos(phi)))) < 3e-16
    assert float(np.max(np.abs(s - np.sin(phi)))) < 3e-16


def test_normals_from_an_offset_are_the_stream_s_own():
    """fill_normals_at(start) gives normals start.. of the same stream as fill_normals."""
    block = np.empty(4, dtype=np.uint64)
    whole = np.empty(23)
    rng.fill_normals(np.uint64(7), np.uint64(3), 5, 2, rng.DATA, whole, block)
    for start in (0, rng.NORMALS_PER_BLOCK, 4 * rng.NORMALS_PER_BLOCK):
        part = np.empty(23 - start)
        rng.fill_normals_at(np.uint64(7), np.uint64(3), 5, 2, rng.DATA, start, part, block)
        np.testing.assert_array_equal(part, whole[start:])
