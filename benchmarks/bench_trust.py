"""Half adherence and the two trust regions on the shipped survey: what each costs.

For each trust region (isolation forest, k-nearest neighbours) and mode, every person
is prescribed with the options off, with ``require_half``, and with
``require_plausible``; the table printed says how many changed answers fall outside
the region (or fail at half adherence) when the option is off, what imposing it costs
(people changed, mean real gain among everybody) and the wall time per person.

Run: ``PYTHONPATH=. python benchmarks/bench_trust.py`` (prints the table).
"""

from __future__ import annotations

import time

import pandas as pd

from sleeprx.learn.model import ModelSettings, train
from sleeprx.learn.trust import INSIDE_TOL
from sleeprx.prescribing.run import prescribe
from sleeprx.prescribing.status import Status
from sleeprx.settings import PrescribeSettings
from sleeprx.survey.description import load_description
from sleeprx.survey.read import read_survey


def _row(survey, model, settings: PrescribeSettings) -> dict:
    start = time.perf_counter()
    table = prescribe(survey, model, settings=settings)
    seconds = time.perf_counter() - start
    changed = table[table["status"].eq(Status.CHANGED)]
    gain = table["gain_logit"].where(table["status"].eq(Status.CHANGED), 0.0)
    half = changed["holds_at_half"].astype("boolean") if "holds_at_half" in changed else None
    return {
        "changed": len(changed),
        "outside region": int((changed["plausibility"] < -INSIDE_TOL).sum()),
        "fail at half": "-" if half is None else int((~half).sum()),
        "mean real gain (all)": round(float(gain.mean()), 4),
        "ms per person": round(1000 * seconds / len(table), 2),
    }


def main() -> None:
    description = load_description()
    survey = read_survey(None, description)
    rows = []
    for method in ("isolation_forest", "knn"):
        model = train(survey, settings=ModelSettings(trust_region=method))
        for mode in ("surrogate", "exact"):
            for option in ("off", "require_half", "require_plausible"):
                flags = {"report_half": True} | ({option: True} if option != "off" else {})
                settings = PrescribeSettings(mode=mode, **flags)
                rows.append(
                    {"region": method, "mode": mode, "option": option}
                    | _row(survey, model, settings)
                )
    print(pd.DataFrame(rows).to_string(index=False))


if __name__ == "__main__":
    main()
