"""zkmargin: prove in zero knowledge that a hidden derivatives account meets a venue's margin
requirement (Bulletproofs for arithmetic circuits over BLS12-381, no trusted setup)."""

from .errors import *  # noqa: F401,F403

__version__ = "0.1.0"
