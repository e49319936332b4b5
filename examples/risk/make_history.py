"""Writes history.json: 251 synthetic daily closes of BTC-PERP and ETH-PERP ending at today's
marks (a seeded bivariate Student-t walk, 60% correlated, fat-tailed like real crypto returns).
Synthetic on purpose: the example must be reproducible and ship no vendor's data. Run once; the
file is the input the venue's table was built from (its SHA-256 is recorded in policy.json)."""

import json

import numpy as np

rng = np.random.Generator(np.random.PCG64(20240603))
n = 250
df = 4
cov = np.array([[1.0, 0.6], [0.6, 1.0]])
z = rng.standard_normal((n, 2)) @ np.linalg.cholesky(cov).T
w = np.sqrt(df / rng.chisquare(df, n))[:, None]
daily = z * w * np.array([0.030, 0.038]) * np.sqrt((df - 2) / df)
today = np.array([67250.40, 3480.15])
path = today * np.exp(np.vstack([np.zeros(2), np.cumsum(daily, axis=0)]) - np.cumsum(daily, axis=0)[-1])
doc = {"format": "zkmargin.history/1",
       "notes": "synthetic: examples/risk/make_history.py (seed 20240603); oldest first, the last row is today's mark",
       "prices": {"BTC-PERP": [f"{x:.2f}" for x in path[:, 0]], "ETH-PERP": [f"{x:.2f}" for x in path[:, 1]]}}
with open("history.json", "w") as fh:
    json.dump(doc, fh, indent=1)
    fh.write("\n")
