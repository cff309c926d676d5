"""The counter-based generator (SPEC section 6): Philox4x64-10, equal to NumPy's, and its variates."""

import numpy as np
import pytest
import scipy.stats
from hypothesis import given
from hypothesis import strategies as st

from saddle import rng
from tests.reference import latent_from_halves, philox_words

u64 = st.integers(min_value=0, max_value=2**64 - 1)


@given(k0=u64, k1=u64, c1=u64, c2=u64, c3=u64, c0=st.integers(0, 2**64 - 2))
def test_philox_block_equals_numpy_philox(k0, k1, c0, c1, c2, c3):
    out = np.empty(4, dtype=np.uint64)
    rng.philox4x64(np.uint64(c0 + 1), np.uint64(c1), np.uint64(c2), np.uint64(c3), np.uint64(k0), np.uint64(k1), out)
    bitgen = np.random.Philox(key=np.array([k0, k1], dtype=np.uint64),
                              counter=np.array([c0, c1, c2, c3], dtype=np.uint64))
    np.testing.assert_array_equal(out, bitgen.random_raw(4))


@given(seed=u64, trial=st.integers(0, 2**40), t=st.integers(1, 10**6), m=st.integers(1, 2**31),
       purpose=st.sampled_from([rng.DATA, rng.NOISE]), n=st.integers(1, 50))
def test_stream_layout_is_numpy_philox_from_counter_zero(seed, trial, t, m, purpose, n):
    np.testing.assert_array_equal(rng.words(seed, trial, t, m, purpose, n), philox_words(seed, trial, t, m, purpose, n))


@given(seed=u64, trial=st.integers(0, 2**40), m=st.integers(1, 2**31), d=st.integers(1, 13))
def test_uniforms_are_the_open_uniforms_of_the_stream_words(seed, trial, m, d):
    """fill_uniforms (random starts on R^d) uses word k of the stream for uniform k."""
    out, block = np.empty(d), np.empty(4, np.uint64)
    rng.fill_uniforms(np.uint64(seed), np.uint64(trial), 0, m, rng.START, out, block)
    words = philox_words(seed, trial, 0, m, rng.START, d)
    np.testing.assert_array_equal(out, ((words >> np.uint64(11)).astype(np.float64) + 0.5) / 2.0**53)


def test_streams_of_different_keys_steps_and_purposes_differ():
    base = rng.words(7, 3, 5, 4, rng.DATA, 8)
    for other in [(8, 3, 5, 4, rng.DATA), (7, 4, 5, 4, rng.DATA), (7, 3, 6, 4, rng.DATA),
                  (7, 3, 5, 5, rng.DATA), (7, 3, 5, 4, rng.NOISE)]:
        assert not np.any(rng.words(*other, 8) == base)


@pytest.mark.parametrize("dist", ["uniform", "rademacher", "laplace"])
def test_kernel_variate_transform_equals_reference_transform(dist):
    code = {"uniform": rng.UNIFORM, "rademacher": rng.RADEMACHER, "laplace": rng.LAPLACE}[dist]
    halves = rng.half_words(rng.words(1, 2, 3, 4, rng.DATA, 4096))
    halves = np.concatenate([halves, np.array([0, 1, 2**31 - 1, 2**31, 2**32 - 1], dtype=np.uint64)])
    scalar = np.array([rng.data_variate(h, code) for h in halves])
    # Equal up to the last bit or two: NumPy's vectorised log and libm's may round differently.
    np.testing.assert_array_max_ulp(scalar, rng.data_variates(halves, code), maxulp=2)
    np.testing.assert_array_max_ulp(scalar, latent_from_halves(halves, dist), maxulp=4)


# Moments of 400,000 variates per distribution; each checked at |z| < 5 against its exact value,
# where z uses the exact standard error of the sample moment (two-sided, about 6e-7 per check).
N_MOMENTS = 400_000


@pytest.mark.parametrize("dist, code", [("uniform", rng.UNIFORM), ("rademacher", rng.RADEMACHER), ("laplace", rng.LAPLACE)])
def test_data_variates_have_mean_0_variance_1_and_the_spec_kurtosis(dist, code):
    z = rng.data_variates(rng.half_words(rng.words(11, 0, 1, 1, rng.DATA, N_MOMENTS // 2)), code)
    kappa = {"uniform": -1.2, "rademacher": -2.0, "laplace": 3.0}[dist]
    m4 = 3.0 + kappa
    m8 = {"uniform": 81.0 / 9.0, "rademacher": 1.0, "laplace": 40320.0 / 16.0}[dist]  # E z^8
    n = z.size
    assert abs(z.mean()) < 5 * np.sqrt(1.0 / n)
    assert abs((z**2).mean() - 1.0) < 5 * np.sqrt((m4 - 1.0) / n) + 1e-12
    assert abs((z**4).mean() - m4) < 5 * np.sqrt((m8 - m4**2) / n) + 1e-12


@pytest.mark.parametrize("dist, code, law", [
    ("uniform", rng.UNIFORM, scipy.stats.uniform(-np.sqrt(3), 2 * np.sqrt(3))),
    ("laplace", rng.LAPLACE, scipy.stats.laplace(scale=1 / np.sqrt(2))),
])
def test_data_variates_follow_their_law_ks(dist, code, law):
    """One-sample KS test, 100,000 variates, significance level 0.001."""
    z = rng.data_variates(rng.half_words(rng.words(12, 0, 1, 1, rng.DATA, 50_000)), code)
    assert scipy.stats.kstest(z, law.cdf).pvalue > 1e-3


def test_normal_pairs_are_standard_normal_ks():
    """Box-Muller on the generator's words: KS against N(0, 1), 100,000 variates, level 0.001."""
    w = rng.words(13, 0, 1, 1, rng.NOISE, 100_000)
    z = np.array([rng.normal_pair(w[i], w[i + 1]) for i in range(0, w.size, 2)]).ravel()
    assert scipy.stats.kstest(z, "norm").pvalue > 1e-3


def test_normals_from_an_offset_are_the_stream_s_own():
    """fill_normals_at(start) gives normals start.. of the same stream as fill_normals."""
    block = np.empty(4, dtype=np.uint64)
    whole = np.empty(23)
    rng.fill_normals(np.uint64(7), np.uint64(3), 5, 2, rng.DATA, whole, block)
    for start in (0, rng.NORMALS_PER_BLOCK, 4 * rng.NORMALS_PER_BLOCK):
        part = np.empty(23 - start)
        rng.fill_normals_at(np.uint64(7), np.uint64(3), 5, 2, rng.DATA, start, part, block)
        np.testing.assert_array_equal(part, whole[start:])
