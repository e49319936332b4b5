"""Example documents shipped inside the package (policy, market and account for the cross,
isolated and portfolio modes), read with :mod:`importlib.resources` by the demo and the tests.

Imports nothing.
"""
