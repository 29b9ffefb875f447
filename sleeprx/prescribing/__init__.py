"""Prescriptions for a population: set up each person's problem, solve it through the
optimisation layer, apply the decision policy, build the output table with its advice,
and re-score every answer with the real classifier (:mod:`sleeprx.prescribing.verify`).

Named ``prescribing`` rather than ``prescribe`` so that the package never shadows the
public function :func:`sleeprx.prescribe`.
"""
