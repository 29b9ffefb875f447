"""Write data/formats_sleep_survey.csv and .sav: a SYNTHETIC survey written the way
national surveys publish theirs.

Every row is made up by this script; no person and no real survey stands behind it.
The file exists to show sleeprx reading answers as published: bedtimes as clock
strings (``23:15``, ``00:30``, sometimes ``11:15 pm``) and so are wake times, sleep
derived from the two (wake time minus bedtime), drinking as two answers that are one
behaviour (drinking days a week, drinks a drinking day), screen time and smoking as
text answers on an ordered scale, a work-pattern category whose names hold ``<``,
brackets and a comma, short upper-case variable names, and an SPSS copy whose
ordered answers are numeric codes with value labels.

Run from the repository root (deterministic for a given ``--n`` and ``--seed``):

    python data/make_formats_survey.py               # 600 people, seed 20250301

The generative model (one numpy Generator, in this order):

1. ``AGE`` 18-80 (uniform); ``SEX`` Female/Male; ``WORK`` (work pattern) one of
   ``Days, regular`` (70%), ``Nights [rotating]`` (15%), ``<20 h a week`` (15%).
2. ``BEDTIME``: normal around 23:10 (sd 50 min), 1 h later for night workers and
   30 min later for the young, to the nearest 15 min; 20% of cells are written
   ``h:mm am/pm``.
3. ``SCREEN`` (evening screens): ``None``, ``<1 h``, ``1-2 h``, ``2-4 h``, ``>4 h``,
   more for the young. ``SMOKING``: ``Never`` (60%), ``Former`` (22%), ``Current``.
4. Sleep: normal around 7 h (shorter for night workers), to the nearest 0.5 h;
   ``WAKETIME`` is bedtime plus sleep, as a clock string; a few blanks.
5. From a second Generator (seed + 1), so that the draws above stay as they were:
   ``DRINKDAYS`` 0-7 a week (40% none) and ``DRINKS`` 1-8 a drinking day (0 with no
   drinking day), and which wake times are written ``h:mm am/pm``.
6. ``QUALITY`` 1-10 from a latent score: bedtime after 23:30 bad, screens bad,
   current smoking bad, sleep away from 7.5 h bad, night work bad, more than 7 drinks
   a week bad, plus logistic noise; good sleep is ``QUALITY >= 7`` (about half of
   people).
7. ``WORKSTART`` (drawn last from the first Generator, so the columns above do not
   depend on it): the clock time work starts for day workers, normal around 08:30
   (sd 45 min), to the nearest 15 min, 06:00-10:30; blank for the others and for 10%
   of day workers (no fixed start). It does not enter ``QUALITY``: the description's
   linear constraint reads it as a covariate (wake up at least an hour before work).

The description is ``sleeprx/survey/shipped/formats_sleep.yaml``; the same
description reads both files.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

SCREEN = ["None", "<1 h", "1-2 h", "2-4 h", ">4 h"]
SMOKING = {"Never": 0, "Former": 1, "Current": 2}
WORK = np.array(["Days, regular", "Nights [rotating]", "<20 h a week"])
HERE = Path(__file__).resolve().parent
DEFAULT_OUT = HERE / "formats_sleep_survey.csv"


def make(n: int = 600, seed: int = 20250301) -> pd.DataFrame:
    """The synthetic survey as the CSV writes it (text cells)."""
    rng = np.random.default_rng(seed)
    age = rng.integers(18, 81, n)
    sex = rng.choice(["Female", "Male"], n)
    work = rng.choice(WORK, n, p=[0.7, 0.15, 0.15])
    nights = work == WORK[1]
    bed = 5.17 + rng.normal(0, 0.83, n) + 1.0 * nights + 0.5 * (age < 30)  # h after 18:00
    bed = np.clip(np.round(bed * 4) / 4, 2.5, 10.0)
    screen = np.clip(np.round(rng.normal(2.0 - 0.02 * (age - 40), 1.1, n)), 0, 4).astype(int)
    smoking = rng.choice(list(SMOKING), n, p=[0.6, 0.22, 0.18])
    sleep = np.clip(np.round((rng.normal(7.0, 0.9, n) - 0.6 * nights) * 2) / 2, 4, 10)
    more = np.random.default_rng(seed + 1)
    days = np.where(more.random(n) < 0.4, 0, more.integers(1, 8, n))
    drinks = np.where(days > 0, np.clip(np.round(more.gamma(2.0, 1.2, n)), 1, 8), 0)
    latent = (
        -0.9 * np.maximum(bed - 5.5, 0)
        - 0.45 * screen
        - 0.8 * (smoking == "Current")
        - 0.6 * (sleep - 7.5) ** 2
        - 0.7 * nights
        - 0.12 * np.maximum(days * drinks - 7, 0)
        + 2.3
        + rng.logistic(0, 0.8, n)
    )
    quality = np.clip(np.round(6.5 + 1.3 * latent), 1, 10).astype(int)
    blank = rng.random(n) < 0.04
    wake = [
        _clock(b + s, ampm) for b, s, ampm in zip(bed, sleep, more.random(n) < 0.2, strict=True)
    ]
    wake = np.where(blank, "", np.array(wake, dtype=object))
    frame = pd.DataFrame(
        {
            "SEQN": np.arange(1001, 1001 + n),
            "AGE": age,
            "SEX": sex,
            "WORK": work,
            "BEDTIME": [_clock(h, ampm) for h, ampm in zip(bed, rng.random(n) < 0.2, strict=True)],
            "SCREEN": [SCREEN[k] for k in screen],
            "SMOKING": smoking,
            "WAKETIME": wake,
            "DRINKDAYS": days,
            "DRINKS": drinks.astype(int),
            "QUALITY": quality,
        }
    )
    start = np.clip(np.round((14.5 + rng.normal(0, 0.75, n)) * 4) / 4, 12.0, 16.5)
    fixed = (work == WORK[0]) & (rng.random(n) >= 0.1)
    frame["WORKSTART"] = [_clock(h, False) if f else "" for h, f in zip(start, fixed, strict=True)]
    return frame


def _clock(hours: float, ampm: bool) -> str:
    """``hours`` after 18:00 as a clock string, ``23:15`` or ``11:15 pm``."""
    minutes = round((18 + hours) * 60) % (24 * 60)
    h, m = divmod(minutes, 60)
    if not ampm:
        return f"{h:02d}:{m:02d}"
    return f"{(h - 1) % 12 + 1}:{m:02d} {'am' if h < 12 else 'pm'}"


def write_sav(frame: pd.DataFrame, path: Path) -> None:
    """The SPSS copy: ordered answers as numeric codes with value labels."""
    import pyreadstat

    coded = frame.copy()
    coded["SCREEN"] = coded["SCREEN"].map(SCREEN.index).astype(float)
    coded["SMOKING"] = coded["SMOKING"].map(SMOKING).astype(float)
    labels = {
        "SCREEN": {float(k): text for k, text in enumerate(SCREEN)},
        "SMOKING": {float(code): text for text, code in SMOKING.items()},
    }
    pyreadstat.write_sav(coded, str(path), variable_value_labels=labels)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=600)
    parser.add_argument("--seed", type=int, default=20250301)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args()
    frame = make(args.n, args.seed)
    frame.to_csv(args.out, index=False, lineterminator="\n")
    write_sav(frame, args.out.with_suffix(".sav"))
    print(f"wrote {args.out} and {args.out.with_suffix('.sav').name}: {len(frame)} people")


if __name__ == "__main__":
    main()
