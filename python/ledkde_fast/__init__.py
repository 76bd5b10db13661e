"""ledkde_fast: kernel-smoothed empirical scores and the LED-KDE for training-free diffusion
sampling (Gabriel, Ged, Han Veiga, Schertzer, arXiv 2505.22841), on a C++/OpenMP core."""

from . import kernels
from ._backends import available_backends
from ._config import __version__, show_config
from .empirical import empirical_denoiser, empirical_score, kde_log_density
from .smoothed import led_kde_log_density, smoothed_denoiser, smoothed_score

__all__ = [
    "__version__",
    "available_backends",
    "empirical_denoiser",
    "empirical_score",
    "kde_log_density",
    "kernels",
    "led_kde_log_density",
    "show_config",
    "smoothed_denoiser",
    "smoothed_score",
]
