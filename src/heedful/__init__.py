"""heedful: attention-based sequence models that explain themselves.

Kept light on purpose: ``heedful --help`` must not import torch. Import submodules
(``heedful.attention``, ``heedful.sequence``, ``heedful.viz``) for the library API.
"""

__version__ = "0.1.0"
