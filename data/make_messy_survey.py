"""Write data/messy_sleep_survey.csv: a SYNTHETIC sleep survey, messy like a real one.

Every row is made up by this script. No person, and no real survey, stands behind
any of it. The file exists so that sleeprx can be tried on data with the faults of a
national health survey: blank answers, rounded answers, answers outside any safe
range, a few duplicated answer profiles, shift workers who sleep in the day, and a
weak signal.

Run from the repository root (deterministic for a given ``--n`` and ``--seed``):

    python data/make_messy_survey.py                       # 4,000 people, seed 20240611
    python data/make_messy_survey.py --n 500 --seed 1 --out other.csv

The generative model, in the order the script draws it (one numpy Generator):

1. Covariates (not modifiable). Age 18-90 (a skewed beta on the range); sex
   Male/Female; region (four); income band (four bands, lower with youth and
   with age over 70); BMI (log-normal around 26.5, rising with age); shift work
   (about 12%, mostly aged 20-60); a chronic condition (more likely with age and BMI).
2. Ten behaviours (the levers).
   - Weekday sleep (h): normal around 7.1 h, shorter for shift workers and for
     high stress; reported to the nearest 0.5 h; 3.5-11 h.
   - Weekend sleep: weekday sleep plus a catch-up of about 0-2 h (more for the
     young); 3% of people differ by 2.5-4 h. Rounded to 0.5 h.
   - Weekday bedtime, in hours after 18:00 (4.5 = 22:30, 6 = midnight, 14 = 08:00):
     normal around 22:50, later for the young; reported to the nearest 15 min.
     40% of shift workers and 0.5% of others go to bed in the day (values 13-17,
     i.e. 07:00-11:00).
   - Weekend bedtime: weekday bedtime plus 0-1.5 h; some day sleepers return to
     night sleep at the weekend (a gap of many hours).
   - Physical activity (min/day): 18% none, otherwise log-normal (median 30 min),
     rounded to 5 min; a few report 3-5 hours.
   - Evening screen time (h): gamma, more for the young; rounded to 0.5 h.
   - Caffeine (cups/day): Poisson, more for shift workers.
   - Alcohol frequency (days per week) on the survey's answer ladder
     0, 0.029, 0.087, 0.25, 0.5, 1.5, 3.5, 5.5, 7 (never, 1-2/yr, 3-6/yr,
     monthly, 2-3/month, 1-2/week, 3-4/week, 5-6/week, daily); men and the middle
     aged drink more often.
   - Drinks per drinking day: 0 for never-drinkers, else 1 + Poisson (men more);
     0-10.
   - Stress level 1-10 (more with shift work, low income and youth).
3. Sleep quality. A latent score adds non-linear effects of the behaviours:
   sleep duration an inverted U around 7.5 h (weekly average), bedtime after
   23:00 bad and day sleep worse, evening screens bad, caffeine bad (worse from 4
   cups), weekly drinks bad (log scale), activity good with diminishing returns
   (1 - exp(-minutes / 30)), stress bad, a weekday-weekend sleep gap over 1 h bad;
   and of the covariates: age, BMI, chronic condition, shift work, income. Plenty
   of logistic noise is added, the sum is mapped to a 1-10 self-rating, and good
   sleep is a rating >= 7 (48% of people). Cross-validated ROC AUC of a
   classifier is about 0.75 (XGBoost 0.76, logistic regression 0.75), not near 1.
4. Blanks (item non-response), not at random: income band (more blanks among the
   old and the poor), BMI (more among the heavy and women), evening screen time (rises
   steeply from age 60), caffeine, drinks per day (more among heavy drinkers),
   alcohol frequency, physical activity, stress, chronic condition, and a few
   bedtimes and sleep durations (more among shift workers). About 30% of rows
   have at least one blank. Age, sex, region, shift work, the id and the target
   are complete.
5. Duplicates: 0.5% of answer profiles are repeated under a new respondent id
   (a questionnaire entered twice).

Ids are ``R-00001`` ... in row order. Values outside later safe ranges are kept as
answered (4 h of sleep, 3 h of activity, 8 h of screens, 9 cups of coffee).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

ALCOHOL_LADDER = np.array([0, 0.029, 0.087, 0.25, 0.5, 1.5, 3.5, 5.5, 7])
INCOME_BANDS = np.array(["Under 20k", "20k-40k", "40k-70k", "70k and over"])
REGIONS = np.array(["North", "Midlands", "South", "East"])

DEFAULT_N = 4000
DEFAULT_SEED = 20240611
DEFAULT_OUT = Path(__file__).resolve().parent / "messy_sleep_survey.csv"


def _round_to(x: np.ndarray, step: float) -> np.ndarray:
    return np.round(x / step) * step


def _blank(rng: np.random.Generator, values: pd.Series, prob: np.ndarray) -> pd.Series:
    """Blank each value with its own probability (item non-response)."""
    hit = rng.random(len(values)) < np.clip(prob, 0, 1)
    return values.mask(hit)


def make_survey(n: int = DEFAULT_N, seed: int = DEFAULT_SEED) -> pd.DataFrame:
    """The synthetic survey: one row per made-up respondent, CSV headers as columns."""
    rng = np.random.default_rng(seed)

    # 1. Covariates ------------------------------------------------------------------
    age = np.round(18 + 72 * rng.beta(1.5, 1.9, n)).astype(int)
    male = rng.random(n) < 0.49
    region = REGIONS[rng.choice(4, n, p=[0.27, 0.24, 0.31, 0.18])]
    income_latent = rng.normal(0, 1, n) - 0.9 * (age < 25) - 0.5 * (age > 70) + 0.15 * male
    income_idx = np.digitize(income_latent, [-0.9, 0.0, 0.9])  # 0..3
    bmi = np.exp(rng.normal(np.log(25.0 + 0.05 * (age - 18)), 0.15, n))
    bmi = np.clip(np.round(bmi, 1), 15.5, 55.0)
    shift = rng.random(n) < np.where((age >= 20) & (age <= 60), 0.15, 0.03)
    chronic = rng.random(n) < 1 / (1 + np.exp(-(-3.2 + 0.045 * age + 0.06 * (bmi - 27))))

    # 2. Behaviours ------------------------------------------------------------------
    stress = np.clip(
        np.round(rng.normal(5.2 + 0.8 * shift + 0.5 * (income_idx == 0) - 0.02 * (age - 45), 1.9)),
        1,
        10,
    ).astype(int)
    sleep_wd_true = rng.normal(7.1 - 0.6 * shift - 0.12 * (stress - 5), 0.95, n)
    sleep_wd = np.clip(_round_to(sleep_wd_true, 0.5), 3.5, 11.0)
    catch_up = np.clip(rng.normal(0.9 - 0.015 * (age - 40), 0.6, n), -0.5, 2.0)
    far = rng.random(n) < 0.03
    catch_up[far] = rng.choice([-1, 1], far.sum(), p=[0.2, 0.8]) * rng.uniform(2.5, 4.0, far.sum())
    sleep_we = np.clip(_round_to(sleep_wd_true + catch_up, 0.5), 3.5, 12.0)

    bed_wd = rng.normal(4.85 - 0.02 * (age - 45), 0.8, n)  # 4.85 = 22:51
    day_sleeper = (shift & (rng.random(n) < 0.40)) | (~shift & (rng.random(n) < 0.005))
    bed_wd[day_sleeper] = rng.uniform(13.0, 17.0, day_sleeper.sum())
    bed_wd = np.clip(bed_wd, 1.5, 23.75)
    bed_we = bed_wd + np.clip(rng.normal(0.6, 0.5, n), -0.5, 1.5)
    back_to_night = day_sleeper & (rng.random(n) < 0.35)
    bed_we[back_to_night] = rng.normal(6.0, 0.8, back_to_night.sum())
    bed_wd = _round_to(bed_wd, 0.25)
    bed_we = np.clip(_round_to(bed_we, 0.25), 1.5, 23.75)

    active = rng.random(n) > 0.18
    activity = np.where(active, np.exp(rng.normal(np.log(30), 0.75, n)), 0.0)
    activity = np.clip(_round_to(activity, 5), 0, 300)

    screen = rng.gamma(2.0, np.clip(1.2 - 0.012 * (age - 40), 0.3, None), n)
    screen = np.clip(_round_to(screen, 0.5), 0, 8)

    caffeine = np.clip(rng.poisson(1.7 + 0.9 * shift + 0.1 * (stress - 5)), 0, 12)

    drink_latent = rng.normal(0.4 * male - 0.0004 * (age - 50) ** 2, 1.3, n)
    alcohol_idx = np.digitize(drink_latent, [-1.3, -0.95, -0.7, -0.35, 0.1, 0.8, 1.5, 2.0])
    alcohol = ALCOHOL_LADDER[alcohol_idx]
    drinks = np.where(
        alcohol > 0,
        np.clip(1 + rng.poisson(np.clip(1.0 + 0.7 * male - 0.015 * (age - 40), 0.2, None)), 1, 10),
        0,
    )

    # 3. Sleep quality ---------------------------------------------------------------
    sleep_week = (5 * sleep_wd + 2 * sleep_we) / 7
    weekly_drinks = alcohol * drinks
    night_bed = np.where(bed_wd >= 12, np.nan, bed_wd)
    score = (
        -0.30 * (sleep_week - 7.5) ** 2
        - 0.35 * np.clip(np.nan_to_num(night_bed, nan=5.0) - 5.0, 0, None)  # after 23:00
        - 0.60 * (bed_wd >= 12)  # sleeping in the day
        - 0.22 * screen
        - 0.12 * caffeine
        - 0.25 * np.clip(caffeine - 3, 0, None)
        - 0.30 * np.log1p(weekly_drinks)
        + 0.70 * (1 - np.exp(-activity / 30))
        - 0.26 * (stress - 5)
        - 0.35 * np.clip(np.abs(sleep_we - sleep_wd) - 1.0, 0, None)
        - 0.012 * (age - 45)
        - 0.035 * (bmi - 27)
        - 0.45 * chronic
        - 0.30 * shift
        + 0.12 * (income_idx - 1.5)
    )
    noise = rng.logistic(0, 0.75, n)
    latent = score - np.median(score) + noise
    quality = np.clip(np.round(6.5 + 1.1 * latent), 1, 10).astype(int)

    df = pd.DataFrame(
        {
            "Age": age,
            "Sex": np.where(male, "Male", "Female"),
            "Region": region,
            "Income Band": INCOME_BANDS[income_idx],
            "BMI": bmi,
            "Shift Work": np.where(shift, "Yes", "No"),
            "Chronic Condition": np.where(chronic, "Yes", "No"),
            "Sleep Weekday": sleep_wd,
            "Sleep Weekend": sleep_we,
            "Bedtime Weekday": bed_wd,
            "Bedtime Weekend": bed_we,
            "Physical Activity": activity,
            "Evening Screen Time": screen,
            "Caffeine Cups": caffeine,
            "Alcohol Frequency": alcohol,
            "Drinks Per Day": drinks,
            "Stress Level": stress,
            "Sleep Quality": quality,
        }
    )

    # 4. Blanks: item non-response, not at random --------------------------------
    old = np.clip((age - 60) / 30, 0, 1)  # 0 below 60, 1 at 90
    df["Income Band"] = _blank(rng, df["Income Band"], 0.07 + 0.10 * old + 0.06 * (income_idx == 0))
    df["BMI"] = _blank(rng, df["BMI"], 0.03 + 0.004 * np.clip(bmi - 25, 0, None) + 0.03 * ~male)
    df["Evening Screen Time"] = _blank(rng, df["Evening Screen Time"], 0.015 + 0.22 * old)
    df["Caffeine Cups"] = _blank(rng, df["Caffeine Cups"], np.full(n, 0.035))
    df["Drinks Per Day"] = _blank(
        rng, df["Drinks Per Day"], np.where(drinks > 0, 0.03 + 0.01 * drinks, 0.0)
    )
    df["Alcohol Frequency"] = _blank(rng, df["Alcohol Frequency"], np.full(n, 0.015))
    df["Physical Activity"] = _blank(rng, df["Physical Activity"], 0.02 + 0.02 * old)
    df["Stress Level"] = _blank(rng, df["Stress Level"], np.full(n, 0.015))
    df["Chronic Condition"] = _blank(rng, df["Chronic Condition"], np.full(n, 0.01))
    for col in ("Bedtime Weekday", "Bedtime Weekend", "Sleep Weekday", "Sleep Weekend"):
        df[col] = _blank(rng, df[col], 0.006 + 0.03 * shift)
    for col in ("Age", "Caffeine Cups", "Drinks Per Day", "Stress Level", "Sleep Quality"):
        df[col] = df[col].astype("Int64")

    # 5. Duplicated answer profiles ----------------------------------------------
    n_dup = max(1, round(0.005 * n))
    order = list(range(n - n_dup))  # the first n - n_dup profiles, each once ...
    for source in rng.choice(n - n_dup, n_dup, replace=False):  # ... and some twice
        order.insert(int(rng.integers(0, len(order) + 1)), int(source))
    df = df.iloc[order].reset_index(drop=True)

    df.insert(0, "Respondent ID", [f"R-{i:05d}" for i in range(1, n + 1)])
    return df


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=DEFAULT_N, help="respondents (default 4000)")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help="random seed")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="CSV to write")
    args = parser.parse_args(argv)
    df = make_survey(args.n, args.seed)
    df.to_csv(args.out, index=False, float_format="%.10g", lineterminator="\n")
    print(f"wrote {len(df)} rows, {df.shape[1]} columns to {args.out.name}")


if __name__ == "__main__":
    main()
