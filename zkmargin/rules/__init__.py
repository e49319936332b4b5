"""The venue's margin rules in clear text: exact decimals, canonical digests, the margin engine
(the oracle every circuit is tested against), and the venue's scenario and dynamic-rate builders.

No group, no proof. Modules here may import :mod:`zkmargin.errors`, :mod:`zkmargin.files` and each
other (the document models are :mod:`zkmargin.rules.models`); never the cryptographic core, the
circuits or anything above them. Used by the API, the circuits' plan (public numbers), the workflows and the
command line. This package re-exports nothing: import the module you need.
"""
