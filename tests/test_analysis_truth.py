"""The analysis functions that need a population law (bias_variance, kl_bound), the denoising
score-matching loss and bandwidth selection, and the fidelity report.

Every statistical assertion runs on fixed seeds; its comment says why the bound holds (a closed form,
an exact identity, or a margin of several standard errors measured on that seed)."""

import json
import math

import numpy as np
import pytest

import ledkde_fast as lk
from ledkde_fast import _fidelity
from ledkde_fast import analysis as an
from ledkde_fast._score_matching import default_candidates, default_times, dsm_loss_of_score
from ledkde_fast.datasets import circle


class GaussianTruth:
    """N(mu, s^2 I): p_t = N(mu, (s^2 + t) I), score -(x - mu) / (s^2 + t), all in closed form."""

    def __init__(self, mu, s):
        self.mu = np.asarray(mu, dtype=float)
        self.s = float(s)
        self.d = self.mu.size

    def sample(self, n, seed=None):
        return self.mu + self.s * np.random.default_rng(seed).standard_normal((n, self.d))

    def score(self, x, t):
        return -(np.asarray(x) - self.mu) / (self.s**2 + t)

    def log_density(self, x, t):
        v = self.s**2 + t
        return -0.5 * np.sum((np.asarray(x) - self.mu) ** 2, axis=1) / v - 0.5 * self.d * np.log(2 * np.pi * v)

    def denoiser(self, x, t):
        return np.asarray(x) + t * self.score(x, t)


class EmpiricalTruth:
    """The data's own law: p_t is the Gaussian KDE of the points, its score the empirical score."""

    def __init__(self, points):
        self.points = np.asarray(points, dtype=float)

    def sample(self, n, seed=None):
        return self.points[np.random.default_rng(seed).integers(self.points.shape[0], size=n)]

    def score(self, x, t):
        return lk.empirical_score(x, self.points, t)

    def log_density(self, x, t):
        return lk.kde_log_density(x, self.points, t)


class FixedTruth(GaussianTruth):
    """Always returns the same points (the first n of a fixed draw): every training set is the same."""

    def __init__(self, mu, s):
        super().__init__(mu, s)
        self.fixed = super().sample(1000, seed=123)

    def sample(self, n, seed=None):
        return self.fixed[:n].copy()


def gaussian_kl(mu_p, var_p, mu_q, var_q, d):
    """KL(N(mu_p, var_p I) || N(mu_q, var_q I))."""
    sq = float(np.sum((np.asarray(mu_p) - np.asarray(mu_q)) ** 2))
    return 0.5 * (d * var_p / var_q + sq / var_q - d + d * math.log(var_q / var_p))


TRUTH = GaussianTruth([0.5, -1.0], 1.0)


# ----------------------------------------------------------------------------- bias_variance
def test_bias_variance_identity_shapes_and_common_random_numbers():
    kw = dict(n_datasets=6, n_eval=64, n_kernel=32, seed=4)
    sweep = an.bias_variance(TRUTH, 30, [0.05, 0.5], [0.0, 0.3], **kw)
    json.dumps(sweep, allow_nan=False)
    assert sweep["bandwidth"] == [0.0, 0.3] and sweep["t"] == [0.05, 0.5]
    for key in ("bias2", "variance", "mse"):
        assert np.shape(sweep[key]) == (2, 2) and np.shape(sweep[f"{key}_se"]) == (2, 2)
        assert np.shape(sweep[f"{key}_se_datasets"]) == (2, 2)
    # the unbiased estimators satisfy mse = bias^2 + variance exactly, for every bandwidth and time
    np.testing.assert_allclose(sweep["mse"], np.add(sweep["bias2"], sweep["variance"]), rtol=1e-12)
    # a scalar bandwidth gives flat lists, and the same numbers as its row of the sweep: the data sets,
    # points and kernel seeds do not depend on the bandwidths asked for
    single = an.bias_variance(TRUTH, 30, [0.05, 0.5], 0.3, **kw)
    assert single["bandwidth"] == 0.3
    for key in ("bias2", "variance", "mse", "mse_se", "variance_se_datasets"):
        assert single[key] == sweep[key][1]


def test_bias_variance_with_identical_training_sets_has_no_variance():
    # every "redrawn" training set is the same: the empirical score (h = 0, no kernel draws) does not
    # vary, so variance = 0 and bias^2 = mse (up to rounding of the sums)
    out = an.bias_variance(FixedTruth([0.0, 0.0], 1.0), 25, [0.1], [0.0, 0.5], n_datasets=4, n_eval=32, n_kernel=16,
                           seed=0)
    assert abs(out["variance"][0][0]) <= 1e-12 * out["mse"][0][0]
    np.testing.assert_allclose(out["bias2"][0][0], out["mse"][0][0], rtol=1e-12)
    # with h > 0 each data set has its own kernel draws: their Monte-Carlo error counts as variance
    assert out["variance"][1][0] > 0


def test_bias_variance_trade_off_on_a_gaussian():
    # t = 0.1, 50 points of N(mu, I) in 2-D. The empirical score memorises (variance ~8); smoothing with
    # h = 1 (the data's scale) averages it out (variance ~3) but pulls toward the barycentre: at small t
    # s~(x) ~ (E_Y[nearest point of x - Y] - x) / t, and that mean shrinks toward the data mean
    # (bias^2 ~2.6 -> ~8). On this seed each difference exceeds twice the sum of the two total
    # standard errors (over the points and, by jackknife, over the data sets); the draws are common to
    # both bandwidths, so the true uncertainty of the difference is smaller still.
    out = an.bias_variance(TRUTH, 50, [0.1], [0.0, 1.0], n_datasets=16, n_eval=256, n_kernel=128, seed=0)

    def total_se(key, i):
        return math.hypot(out[f"{key}_se"][i][0], out[f"{key}_se_datasets"][i][0])

    assert out["variance"][0][0] - out["variance"][1][0] > 2 * (total_se("variance", 0) + total_se("variance", 1))
    assert out["bias2"][1][0] - out["bias2"][0][0] > 2 * (total_se("bias2", 0) + total_se("bias2", 1))


def test_bias_variance_on_the_circle_law():
    # 40 points of the unit circle, t = 0.01: smoothing with h = 0.25 (about the mean gap 2 pi / 40)
    # cuts the variance ~6x (75 -> 12, se 7 and 1) and raises the bias (4 -> 15, se 2 and 1)
    ds = circle(40, seed=2)
    out = an.bias_variance(ds.truth, 40, [1e-2], [0.0, 0.25], n_datasets=8, n_eval=128, n_kernel=64, seed=0)
    var, var_se = np.array(out["variance"])[:, 0], np.array(out["variance_se"])[:, 0]
    bias, bias_se = np.array(out["bias2"])[:, 0], np.array(out["bias2_se"])[:, 0]
    assert var[0] - var[1] > 3 * (var_se[0] + var_se[1])
    assert bias[1] - bias[0] > 2 * (bias_se[0] + bias_se[1])


# ----------------------------------------------------------------------------- kl_bound
def test_kl_bound_start_term_matches_the_closed_form():
    data = TRUTH.sample(50, seed=3)
    t_max = 1.0
    out = an.kl_bound(TRUTH, data, 0.2, t_max=t_max, t_min=0.1, n_steps=4, n_eval=16384, n_kernel=16, seed=0)
    json.dumps(out, allow_nan=False)
    # p_T = N(mu, (s^2 + T) I) against the sampler's start N(mean of data, T I): closed form. The estimate
    # is a mean of 16384 i.i.d. terms; 4 standard errors is a two-sided 6e-5 tail for a Gaussian mean
    exact = gaussian_kl(TRUTH.mu, TRUTH.s**2 + t_max, data.mean(axis=0), t_max, 2)
    assert abs(out["start"] - exact) < 4 * out["start_se"]
    assert out["start_se"] < 0.03 * exact  # and the test has power: the KL is ~0.31, 4 se ~0.03
    np.testing.assert_allclose(out["mean"], data.mean(axis=0))


def test_kl_bound_bookkeeping():
    data = TRUTH.sample(40, seed=1)
    kw = dict(t_max=2.0, t_min=0.02, n_steps=8, n_eval=64, n_kernel=16, seed=5)
    out = an.kl_bound(TRUTH, data, 0.1, **kw)
    t = np.array(out["t"])
    np.testing.assert_allclose(t, np.geomspace(0.02, 2.0, 9), rtol=1e-14)  # the sampler's grid, increasing
    assert out["t_min"] == t[0] and out["t_max"] == t[-1]
    g = np.array(out["gap"])
    np.testing.assert_allclose(out["integral"], 0.5 * np.sum(0.5 * (g[1:] + g[:-1]) * np.diff(t)), rtol=1e-12)
    assert out["total"] == out["start"] + out["integral"]
    assert out["total_se"] == pytest.approx(math.hypot(out["start_se"], out["integral_se"]))
    # a constant schedule h(t) is the scalar bandwidth (same draws)
    same = an.kl_bound(TRUTH, data, lambda t: 0.1, **kw)
    assert same["bandwidth"] == [0.1] * 9
    assert same["gap"] == out["gap"] and same["start"] == out["start"]
    # an explicit schedule replaces t_max, t_min and n_steps
    explicit = an.kl_bound(TRUTH, data, 0.1, schedule=[1.0, 0.5, 0.1], n_eval=16, n_kernel=16, seed=0)
    assert explicit["t"] == [0.1, 0.5, 1.0]


def test_kl_bound_against_the_datas_own_law():
    # the truth is the KDE of the data itself: the h = 0 score is exactly the truth's, so the score term
    # is exactly 0 and the bound reduces to the start term
    data = np.random.default_rng(0).normal(size=(30, 2))
    out = an.kl_bound(EmpiricalTruth(data), data, 0.0, n_steps=10, n_eval=64, seed=0)
    assert out["gap"] == [0.0] * 11 and out["integral"] == 0.0 and out["total"] == out["start"]


def test_kl_bound_on_the_circle_prefers_the_selected_bandwidth():
    # the score term of the Girsanov bound is ~120 (se 12) for the memorising empirical score of 40
    # points of the circle, ~14 (se 0.5) at h = 0.2: the same paths serve both (common random numbers)
    ds = circle(40, seed=2)
    zero = an.kl_bound(ds.truth, ds.points, 0.0, n_steps=40, n_eval=128, n_kernel=64, seed=0)
    smooth = an.kl_bound(ds.truth, ds.points, 0.2, n_steps=40, n_eval=128, n_kernel=64, seed=0)
    assert zero["start"] == smooth["start"]
    assert zero["integral"] - smooth["integral"] > 3 * (zero["integral_se"] + smooth["integral_se"])


# ----------------------------------------------------------------------------- denoising score matching
def test_dsm_of_the_true_score_matches_its_closed_form():
    # for N(mu, s^2 I), sqrt(t) s_t(x0 + sqrt(t) eps) + eps = eps s^2/(s^2+t) - sqrt(t)(x0-mu)/(s^2+t) is
    # N(0, s^2/(s^2+t) I): each time's term has mean d s^2/(s^2+t) exactly. 4 standard errors of a mean
    # of 400 i.i.d. per-point averages
    x0 = TRUTH.sample(400, seed=8)
    times = [0.01, 0.1, 1.0]
    out = dsm_loss_of_score(x0, TRUTH.score, times, n_noise=8, seed=0, details=True)
    json.dumps(out, allow_nan=False)
    expected = 2 * TRUTH.s**2 / (TRUTH.s**2 + np.array(times))
    assert np.all(np.abs(np.array(out["per_time"]) - expected) < 4 * np.array(out["per_time_se"]))
    assert out["loss"] == pytest.approx(np.mean(out["per_time"]), rel=1e-12)


def test_dsm_ranks_the_true_score_first():
    data = TRUTH.sample(50, seed=1)
    held = TRUTH.sample(200, seed=2)
    times = default_times(data)
    truth_loss = dsm_loss_of_score(held, TRUTH.score, times, seed=0, details=True)
    empirical = an.dsm_loss(held, data, 0.0, seed=0, details=True)  # default times: the same grid
    smoothed = an.dsm_loss(held, data, 0.3, n_kernel=64, seed=0, details=True)
    assert empirical["times"] == list(times)
    # DSM = E|s - grad log p_t|^2 (weighted) + a constant, and the true score makes the first term 0; the
    # memorising empirical score's excess is huge at small t. Margins: several standard errors each
    assert empirical["loss"] - truth_loss["loss"] > 3 * (empirical["se"] + truth_loss["se"])
    assert smoothed["loss"] - truth_loss["loss"] > 3 * (smoothed["se"] + truth_loss["se"])
    assert smoothed["loss"] < empirical["loss"]
    # the same noise: dsm_loss at h = 0 is dsm_loss_of_score with the empirical score
    again = dsm_loss_of_score(held, lambda x, t: lk.empirical_score(x, data, t), times, seed=0)
    assert again == pytest.approx(empirical["loss"], rel=1e-12)
    assert an.dsm_loss(held, data, 0.0, seed=0) == empirical["loss"]  # float without details


def test_select_bandwidth_on_a_circle():
    data = circle(40, seed=2).points
    out = an.select_bandwidth(data, cv=5, seed=2)  # 5 folds keep the test short (default: leave-one-out)
    json.dumps(out, allow_nan=False)
    hs = [row["bandwidth"] for row in out["table"]]
    np.testing.assert_allclose(hs, default_candidates(data))
    assert hs[0] == 0.0 and len(hs) == 26
    best = out["table"][out["index"]]
    assert out["bandwidth"] == best["bandwidth"] > 0 and not out["at_edge"]
    assert best["loss"] == min(row["loss"] for row in out["table"]) and best["loss_minus_best"] == 0.0
    # the memorising empirical score loses on held-out points: on this seed by ~69 with a paired
    # (fold-wise) standard error of ~13
    zero = out["table"][0]
    assert zero["loss_minus_best"] > 3 * zero["paired_se"]
    assert len(zero["folds"]) == 5 and zero["loss"] == pytest.approx(np.mean(zero["folds"]))
    # the one-standard-error rule takes the largest bandwidth within one se of the best: never less smoothing
    one_se = an.select_bandwidth(data, cv=5, seed=2, rule="one_se")
    assert one_se["bandwidth"] >= out["bandwidth"]
    assert one_se["table"][one_se["index"]]["loss"] <= best["loss"] + best["se"]


def test_default_folds_are_leave_one_out_for_small_data():
    from ledkde_fast._score_matching import default_folds

    assert default_folds(2) == 2 and default_folds(64) == 64 and default_folds(65) == 10
    data = circle(12, seed=0).points
    out = an.select_bandwidth(data, [0.0, 0.3], n_noise=2, n_kernel=8, seed=0)
    assert out["cv"] == 12 and all(len(row["folds"]) == 12 for row in out["table"])
    with pytest.raises(ValueError, match="at least 2 points"):
        an.select_bandwidth(data[:1], [0.0, 0.3])


# ----------------------------------------------------------------------------- fidelity
def brute_inside(queries, centres, radii):
    dist = np.sqrt(((queries[:, None, :] - centres[None, :, :]) ** 2).sum(-1))
    return (dist <= radii[None, :]).any(axis=1)


def brute_radii(points, k):
    dist = np.sqrt(((points[:, None, :] - points[None, :, :]) ** 2).sum(-1))
    return np.sort(dist, axis=1)[:, k]  # column 0 is the point itself


def test_precision_recall_matches_brute_force_in_small_blocks(monkeypatch):
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(70, 3)), rng.normal(size=(90, 3)) + 1.0
    expected_p = brute_inside(a, b, brute_radii(b, 4)).mean()
    expected_r = brute_inside(b, a, brute_radii(a, 4)).mean()
    assert 0 < expected_p < 1 and 0 < expected_r < 1
    assert an.precision_recall(a, b, k=4) == (expected_p, expected_r)
    monkeypatch.setattr(_fidelity, "BLOCK_BYTES", 8 * 3 * 7)  # blocks of 7 centres: many blocks
    assert an.precision_recall(a, b, k=4) == (expected_p, expected_r)


def test_precision_recall_balls_are_closed():
    centres = np.array([[0.0], [1.0], [2.0]])  # k = 1: every radius is 1
    radii = _fidelity.knn_radii(centres, 1, lambda x, d, k: lk.nearest_neighbors(x, d, k))
    np.testing.assert_array_equal(radii, [1.0, 1.0, 1.0])
    queries = np.array([[3.0], [-1.0], [3.0 + 1e-9], [0.5]])
    np.testing.assert_array_equal(_fidelity.inside_union_of_balls(queries, centres, radii),
                                  [True, True, False, True])


def test_fidelity_of_a_sample_against_itself_and_a_shifted_copy():
    ds = circle(150, noise=0.02, seed=1)
    ref = ds.points
    same = an.fidelity(ref, ref, data=ref, truth_or_dataset=ds)
    json.dumps(same, allow_nan=False)
    # every point is the centre of a ball of the other set: precision = recall = 1 exactly; the energy
    # distance of a set to itself is 0, and the unbiased MMD^2 of a set to itself is
    # -2 (1 - mean k) / (n - 1), in [-2 / (n - 1), 0]
    assert same["precision"] == 1.0 and same["recall"] == 1.0
    assert abs(same["energy_distance"]) < 1e-12
    assert -2 / (ref.shape[0] - 1) <= same["mmd"] <= 0
    assert same["memorization"]["fraction_memorized_ratio"] == 1.0  # the samples are the training points
    assert same["distance_to_manifold"]["max"] < 0.1  # noise 0.02 in 2-D: |noise| > 0.1 is a 5-sigma event
    assert same["distance_to_manifold"] == same["reference_distance_to_manifold"]
    # shifted by 0.3 (several k-NN radii of the noisy circle): most samples leave the reference manifold
    # and most reference points are no longer covered (0.31 and 0.37 on this seed); both distances grow
    # (the MMD little: its median-heuristic bandwidth, 1.4, is the circle's size)
    moved = an.fidelity(ref + [0.3, 0.0], ref, truth_or_dataset=ds, mmd_bandwidth=same["mmd_bandwidth"])
    assert moved["precision"] < 0.5 and moved["recall"] < 0.5
    assert moved["mmd"] > 0.01 > 0 >= same["mmd"] and moved["energy_distance"] > 0.05
    assert moved["distance_to_manifold"]["mean"] > same["distance_to_manifold"]["mean"]
    assert moved["memorization"] is None


def test_fidelity_without_a_known_manifold():
    mix = lk.datasets.gaussian_mixture(40, means=[[0.0, 0.0], [3.0, 0.0]], seed=0)
    out = an.fidelity(mix.points[:20], mix.points[20:], k=3, truth_or_dataset=mix)
    assert out["distance_to_manifold"] is None and out["reference_distance_to_manifold"] is None


# ----------------------------------------------------------------------------- input checks
class WrongShapeTruth(GaussianTruth):
    def score(self, x, t):
        return super().score(x, t)[:, :1]


@pytest.mark.parametrize("call, exc, name", [
    (lambda d: an.bias_variance(object(), 5, [0.1], 0.1), TypeError, "truth"),
    (lambda d: an.bias_variance(TRUTH, 0, [0.1], 0.1), ValueError, "n"),
    (lambda d: an.bias_variance(TRUTH, 5, [0.0], 0.1), ValueError, "t_grid"),
    (lambda d: an.bias_variance(TRUTH, 5, [[0.1]], 0.1), ValueError, "t_grid"),
    (lambda d: an.bias_variance(TRUTH, 5, [0.1], [0.1, -0.1]), ValueError, "bandwidth"),
    (lambda d: an.bias_variance(TRUTH, 5, [0.1], "0.1"), TypeError, "bandwidth"),
    (lambda d: an.bias_variance(TRUTH, 5, [0.1], 0.1, n_datasets=1), ValueError, "n_datasets"),
    (lambda d: an.bias_variance(TRUTH, 5, [0.1], 0.1, n_eval=1), ValueError, "n_eval"),
    (lambda d: an.bias_variance(TRUTH, 5, [0.1], 0.1, n_kernel=3), ValueError, "n_kernel"),
    (lambda d: an.bias_variance(WrongShapeTruth([0.0, 0.0], 1.0), 5, [0.1], 0.1, n_eval=4, n_datasets=2),
     ValueError, "truth.score"),
    (lambda d: an.kl_bound(TRUTH, d, 0.1, t_max=0.1, t_min=1.0), ValueError, "t_min"),
    (lambda d: an.kl_bound(TRUTH, d, 0.1, t_max=-1.0), ValueError, "t_max"),
    (lambda d: an.kl_bound(TRUTH, d, 0.1, schedule="cosine"), ValueError, "schedule"),
    (lambda d: an.kl_bound(TRUTH, d[:, :1], 0.1, n_eval=4), ValueError, "data"),
    (lambda d: an.kl_bound(object(), d, 0.1), TypeError, "truth"),
    (lambda d: an.kl_bound(TRUTH, d, lambda t: -1.0), ValueError, "bandwidth"),
    (lambda d: an.dsm_loss(d, d, 0.1, times=[0.0]), ValueError, "times"),
    (lambda d: an.dsm_loss(d, d, 0.1, n_noise=0), ValueError, "n_noise"),
    (lambda d: an.dsm_loss(d[:, :1], d, 0.1), ValueError, "x_heldout"),
    (lambda d: an.dsm_loss(d, d, 0.1, details="yes"), TypeError, "details"),
    (lambda d: an.dsm_loss(d, d, 0.1, weights=-np.ones(5)), ValueError, "weights"),
    (lambda d: dsm_loss_of_score(d, 1, [0.1]), TypeError, "score"),
    (lambda d: dsm_loss_of_score(d, lambda x, t: x[:1], [0.1]), ValueError, "score"),
    (lambda d: an.select_bandwidth(d, cv=1), ValueError, "cv"),
    (lambda d: an.select_bandwidth(d, cv=6), ValueError, "cv"),
    (lambda d: an.select_bandwidth(d, cv=2.0), TypeError, "cv"),
    (lambda d: an.select_bandwidth(d, []), ValueError, "candidates"),
    (lambda d: an.select_bandwidth(d, [0.1], rule="best"), ValueError, "rule"),
    (lambda d: an.precision_recall(d, d, k=5), ValueError, "k"),
    (lambda d: an.precision_recall(d, d[:, :1]), ValueError, "samples"),
    (lambda d: an.fidelity(d, d, k=0), ValueError, "k"),
    (lambda d: an.fidelity(d, d, k=2, truth_or_dataset=object()), TypeError, "truth_or_dataset"),
    (lambda d: an.fidelity(d, d, k=2, data=d[:, :1]), ValueError, "data"),
    (lambda d: an.fidelity(d, d, k=2, mmd_bandwidth=0.0), ValueError, "mmd_bandwidth"),
])
def test_bad_input(call, exc, name):
    data = np.random.default_rng(0).normal(size=(5, 2))
    with pytest.raises(exc, match=f"^{name}"):
        call(data)


def test_private_examples_run():
    import doctest

    from ledkde_fast import _score_matching

    runner = doctest.DocTestRunner()
    for test in doctest.DocTestFinder().find(_score_matching, _score_matching.__name__):
        runner.run(test)
    result = runner.summarize(verbose=False)
    assert result.attempted > 0 and result.failed == 0
