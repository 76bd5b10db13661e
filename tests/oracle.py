"""The float64 brute-force oracle every numerical test compares against.

Written independently of the library: explicit differences |x - x_i|^2, a dense (m, N) logit matrix
and a max-shifted log-sum-exp. Only for the small sizes the tests use.
"""

import numpy as np


def logits(x, data, t, weights=None):
    x = np.asarray(x, dtype=np.float64)
    data = np.asarray(data, dtype=np.float64)
    diff = x[:, None, :] - data[None, :, :]
    out = -(diff**2).sum(axis=-1) / (2.0 * t)
    if weights is not None:
        with np.errstate(divide="ignore"):
            out = out + np.log(np.asarray(weights, dtype=np.float64))[None, :]
    return out


def softmax_weights(x, data, t, weights=None):
    lg = logits(x, data, t, weights)
    w = np.exp(lg - lg.max(axis=1, keepdims=True))
    return w / w.sum(axis=1, keepdims=True)


def denoiser(x, data, t, weights=None):
    return softmax_weights(x, data, t, weights) @ np.asarray(data, dtype=np.float64)


def score(x, data, t, weights=None):
    return (denoiser(x, data, t, weights) - np.asarray(x, dtype=np.float64)) / t


def kde_log_density(x, data, t, weights=None):
    data = np.asarray(data, dtype=np.float64)
    n, d = data.shape
    lg = logits(x, data, t, weights)
    mx = lg.max(axis=1)
    lse = mx + np.log(np.exp(lg - mx[:, None]).sum(axis=1))
    log_mass = np.log(n) if weights is None else np.log(np.sum(weights, dtype=np.float64))
    return lse - log_mass - 0.5 * d * np.log(2.0 * np.pi * t)


def data_scale(data):
    """Radius of the data about its mean: the scale that the denoiser's error is measured against."""
    data = np.asarray(data, dtype=np.float64)
    return float(np.linalg.norm(data - data.mean(axis=0), axis=1).max())


def logit_scale(x, data, t):
    """Largest magnitude of the terms a GEMM-expanded logit is built from, (|x-mu| + R)^2 / (2t):
    rounding of the fast kernels is relative to this, not to the (possibly small) logit itself."""
    x = np.asarray(x, dtype=np.float64)
    data = np.asarray(data, dtype=np.float64)
    mu = data.mean(axis=0)
    r = np.linalg.norm(data - mu, axis=1).max()
    q = np.linalg.norm(x - mu, axis=1)
    return (q + r) ** 2 / (2.0 * t)
