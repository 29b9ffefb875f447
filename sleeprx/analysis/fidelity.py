"""How much does optimising the SHAP surrogate lose against optimising the model itself?

Both modes' prescriptions for the same people are scored under the true objective,
the real model's change in log-odds minus the same penalty:
:math:`J(x') = \\Delta\\mathrm{logit}_{\\mathrm{model}}(x') - \\lambda C(x')`.
Exact mode maximises :math:`J` itself, so its value is an upper bound for every other
prescription under the same constraints; the loss of using the surrogate is
:math:`J(x'_{\\mathrm{exact}}) - J(x'_{\\mathrm{surrogate}}) \\ge 0`.

The comparison is made without the minimum-gain rule (``min_gain = 0``): that rule
is applied to each mode's own estimate, and would otherwise mix a policy threshold
into the measure of the surrogate's error.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from sleeprx.prescribing.columns import after
from sleeprx.prescribing.status import Status
from sleeprx.settings import PrescribeSettings

__all__ = ["fidelity_report"]


def _true_objective(table: pd.DataFrame, lam: float) -> pd.Series:
    gain = table["gain_logit"].fillna(0.0)
    return gain - lam * table["cost"].fillna(0.0)


def fidelity_report(
    surrogate: pd.DataFrame,
    exact: pd.DataFrame,
    settings: PrescribeSettings,
    *,
    factors: tuple[str, ...],
) -> tuple[pd.DataFrame, dict[str, float]]:
    """Per-person comparison and its summary.

    ``surrogate`` and ``exact`` are :func:`sleeprx.prescribe` tables for the same people;
    ``factors`` are the modifiable factors whose ``<factor>_after`` columns are compared.
    """
    s = surrogate.set_index("person_id")
    e = exact.set_index("person_id").loc[s.index]
    solved = [Status.CHANGED, Status.NO_CHANGE]
    ok = s["status"].isin(solved) & e["status"].isin(solved)
    s, e = s[ok], e[ok]
    after_s = s[[after(f) for f in factors]].to_numpy(float)
    after_e = e[[after(f) for f in factors]].to_numpy(float)
    differ = ~np.all(np.isclose(after_s, after_e), axis=1)
    j_s, j_e = _true_objective(s, settings.lam), _true_objective(e, settings.lam)
    loss = j_e - j_s
    per_person = pd.DataFrame(
        {
            "objective_surrogate": j_s,
            "objective_exact": j_e,
            "loss": loss,
            "differ": differ,
            "gain_real_surrogate": s["gain_logit"],
            "gain_real_exact": e["gain_logit"],
            "gain_estimated_surrogate": s["gain_surrogate"],
            "changes_surrogate": s["n_changes"],
            "changes_exact": e["n_changes"],
        }
    )
    changed = s["status"].eq(Status.CHANGED)
    summary = {
        "people": len(per_person),
        "share_differ": float(differ.mean()),
        "mean_loss": float(loss.mean()),
        "worst_loss": float(loss.max()),
        "share_loss_positive": float((loss > 1e-9).mean()),
        "surrogate_changed": int(changed.sum()),
        "share_surrogate_nonpositive_real_gain": float(
            (s.loc[changed, "gain_logit"] <= 0).mean() if changed.any() else 0.0
        ),
        "mean_objective_surrogate": float(j_s.mean()),
        "mean_objective_exact": float(j_e.mean()),
    }
    return per_person.reset_index(), summary
