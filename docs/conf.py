"""Sphinx configuration of the ledkde_fast documentation.

Build (offline, warnings as errors) from the repository root:

    python -m sphinx -W --keep-going -b html docs docs/_build/html

The API pages document the *installed* package (autodoc imports ``ledkde_fast``, whose compiled
core exists only in an installed build): reinstall the package after changing its docstrings.
"""

from importlib.metadata import version as _version

# -- Project ---------------------------------------------------------------------------------------
project = "ledkde_fast"
author = "the ledkde_fast authors"
copyright = "the ledkde_fast authors"
release = _version("ledkde_fast")
version = ".".join(release.split(".")[:2])

# -- Extensions ------------------------------------------------------------------------------------
# Nothing here reaches the network: no intersphinx, MathJax is only referenced by the HTML pages.
extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
    "numpydoc",
]

autosummary_generate = True
autodoc_default_options = {"members": False}
autodoc_typehints = "none"  # signatures as written; types are in the numpydoc sections

numpydoc_show_class_members = False
numpydoc_class_members_toctree = False

templates_path = []
exclude_patterns = ["_build", "Thumbs.db", ".DS_Store"]
source_suffix = {".rst": "restructuredtext"}
root_doc = "index"
default_role = "literal"  # `x` renders as code, as in the docstrings
nitpicky = False

# -- HTML ------------------------------------------------------------------------------------------
html_theme = "alabaster"
html_title = f"ledkde_fast {release}"
html_theme_options = {
    "description": "Kernel-smoothed empirical scores and the LED-KDE on a C++/OpenMP core",
    "fixed_sidebar": True,
    "show_relbars": True,
}
html_static_path = []
