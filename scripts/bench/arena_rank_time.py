"""Times arena-rank (PyPI `arena-rank`, LMArena's ranking library) on a battle log, beside
`verdict bench leaderboard` on the same file: load, Bradley-Terry fit and sandwich intervals.

    python scripts/bench/arena_rank_time.py battles.jsonl
"""
import sys
import time

import pandas as pd
from arena_rank.models.bradley_terry import BradleyTerry
from arena_rank.utils.data_utils import PairDataset

t0 = time.perf_counter()
df = pd.read_json(sys.argv[1], lines=True)
df["winner"] = df["winner"].replace({"tie (bothbad)": "both_bad"})
t1 = time.perf_counter()
ds = PairDataset.from_pandas(df)
t2 = time.perf_counter()
model = BradleyTerry(n_competitors=len(ds.competitors))
result = model.compute_ratings_and_cis(ds, ci_method="sandwich")
float(result["ratings"][0])  # wait for jax
t3 = time.perf_counter()
print(f"{'load ' + str(len(df)) + ' battles (pandas)':<34} {t1 - t0:>10.3f}")
print(f"{'aggregate (PairDataset)':<34} {t2 - t1:>10.3f}")
print(f"{'BT fit + sandwich CIs':<34} {t3 - t2:>10.3f}")
print(f"{'TOTAL':<34} {t3 - t0:>10.3f}")
