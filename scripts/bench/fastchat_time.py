"""Times Chatbot Arena's own leaderboard code (FastChat's
`fastchat/serve/monitor/rating_systems.py`) on a battle log, step for step as
`verdict bench leaderboard` does: load, online Elo, Bradley-Terry, a 100-round bootstrap on
both cores, and Rank (UB) from the bootstrap's intervals.

    python scripts/bench/fastchat_time.py FASTCHAT_MONITOR_DIR battles.jsonl

FASTCHAT_MONITOR_DIR is a folder holding `rating_systems.py` from lm-sys/FastChat (needs numpy,
scipy, pandas and tqdm).
"""
import os
import sys
import time

sys.path.insert(0, sys.argv[1])
os.environ.setdefault("TQDM_DISABLE", "1")
import pandas as pd  # noqa: E402
import rating_systems as rs  # noqa: E402

ROUNDS = 100

t0 = time.perf_counter()
df = pd.read_json(sys.argv[2], lines=True)
if "anony" in df.columns:
    df = df[df["anony"]]
if "tstamp" in df.columns:
    df = df.sort_values("tstamp", ascending=True, kind="stable")
t1 = time.perf_counter()
elo = rs.compute_elo(df)
t2 = time.perf_counter()
bt = rs.compute_bt(df)
t3 = time.perf_counter()
boot = rs.compute_bootstrap_bt(df, num_round=ROUNDS, num_cpu=2)
t4 = time.perf_counter()
lower, upper = boot.quantile(0.025), boot.quantile(0.975)
# Rank (UB): 1 + the number of models whose lower bound is above this model's upper bound.
rank = {m: 1 + int((lower > upper[m]).sum()) for m in boot.columns}
t5 = time.perf_counter()
assert len(rank) == len(bt) == len(elo)
rows = [
    (f"load {len(df)} battles (pandas)", t1 - t0),
    ("online Elo", t2 - t1),
    ("BT", t3 - t2),
    (f"bootstrap, {ROUNDS} rounds (2 processes)", t4 - t3),
    ("CIs + Rank (UB)", t5 - t4),
    (f"TOTAL with {ROUNDS} rounds", t5 - t0),
]
for name, secs in rows:
    print(f"{name:<34} {secs:>10.3f}")
