"""ledkde_fast: kernel-smoothed empirical scores and the LED-KDE for training-free diffusion
sampling (Gabriel, Ged, Han Veiga, Schertzer, arXiv 2505.22841), on a C++/OpenMP core."""

from . import kernels
from ._backends import available_backends
from ._config import __version__, show_config
from .empirical import empirical_denoiser, empirical_score, kde_log_density
from .estimator import LEDKDE
from .neighbors import nearest_neighbors
from .sampler import sample
from .smoothed import led_kde_log_density, smoothed_denoiser, smoothed_score

__all__ = [
    "LEDKDE",
    "__version__",
    "available_backends",
    "empirical_denoiser",
    "empirical_score",
    "kde_log_density",
    "kernels",
    "led_kde_log_density",
    "nearest_neighbors",
    "sample",
    "show_config",
    "smoothed_denoiser",
    "smoothed_score",
]
