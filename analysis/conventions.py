"""The review's conventions, stated once: who is compared with whom, which way an effect
points, what a confidence interval is called, and the words used for a conclusion.

Every module that labels, orients or judges an effect takes its words and rules from
here, so a change of wording or convention happens in one place.

* The comparison is the arm with role ``treatment`` (:data:`TREATMENT`, dexamethasone)
  against the arm with role ``control`` (:data:`CONTROL`, placebo).
* A standardised mean difference is oriented so that a positive value favours the
  treatment (:func:`oriented_smd`): g is multiplied by -1 for outcomes stored with
  ``higher_is_worse``. Mean differences stay on the outcome's own scale.
* The critical value of a two-sided interval at ``level`` is the normal quantile
  (:func:`z_quantile`), never a typed 1.96.
* A conclusion from a confidence interval (:func:`verdict`): the whole interval above
  the null favours the treatment, the whole interval below favours the comparator,
  otherwise there is no clear difference.
"""

from __future__ import annotations

import numpy as np
from scipy import special

#: Names of the two compared arms, as readers see them.
TREATMENT = "dexamethasone"
CONTROL = "placebo"

#: Outcome directions, as in ``outcome_definitions.csv``.
HIGHER_IS_BETTER = "higher_is_better"
HIGHER_IS_WORSE = "higher_is_worse"
DIRECTIONS = (HIGHER_IS_BETTER, HIGHER_IS_WORSE)

#: Analysis windows (``timepoints.csv``, column ``window``) and their headings.
WINDOWS = ("end_of_treatment", "about_one_month")
WINDOW_LABELS = {
    "end_of_treatment": "End of treatment",
    "about_one_month": "About one month after treatment",
}

#: Comparison scopes (``studies.csv``, column ``scope``) and their headings.
SCOPE_LABELS = {
    "running_injury": "Running injuries",
    "other_tendinopathy": "Other tendinopathy (elbow; separate comparison)",
    "unspecified_tendinopathy": "Tendinopathy, site not named",
}
#: Short forms for legends.
SCOPE_SHORT = {
    "running_injury": "running injury",
    "other_tendinopathy": "elbow, comparison",
    "unspecified_tendinopathy": "tendinopathy, site not named",
}

#: The words of a conclusion drawn from a confidence interval.
FAVOURS_TREATMENT = f"favours {TREATMENT}"
FAVOURS_CONTROL = f"favours {CONTROL}"
FAVOURS_COMPARATOR = "favours comparator"
NO_CLEAR_DIFFERENCE = "no clear difference"


def z_quantile(level: float = 0.95) -> float:
    """Two-sided normal critical value for a ``level`` interval (1.95996... at 0.95)."""
    level = float(level)
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must be a proportion in (0, 1), e.g. 0.95; got {level!r}")
    return float(special.ndtri(1.0 - (1.0 - level) / 2.0))


def verdict(ci_lb, ci_ub, *, null: float = 0.0, against: str = CONTROL):
    """Conclusion from a confidence interval of an effect oriented treatment minus comparator.

    ``"favours dexamethasone"`` when the whole interval lies above ``null``,
    ``"favours <against>"`` when it lies below, ``"no clear difference"`` otherwise
    (also when a bound is missing). Scalars give a str, arrays an array of str.
    """
    lb = np.asarray(ci_lb, dtype=float)
    ub = np.asarray(ci_ub, dtype=float)
    out = np.where(lb > null, FAVOURS_TREATMENT,
                   np.where(ub < null, f"favours {against}", NO_CLEAR_DIFFERENCE))
    return str(out) if out.ndim == 0 else out


def smd_sign(direction: str) -> float:
    """+1 or -1: the factor that orients an SMD so that positive favours the treatment."""
    if direction == HIGHER_IS_BETTER:
        return 1.0
    if direction == HIGHER_IS_WORSE:
        return -1.0
    raise ValueError(f"direction must be one of {DIRECTIONS}, got {direction!r}")


def oriented_smd(g, direction: str):
    """Hedges' g (treatment minus control) oriented so that positive favours the treatment."""
    return smd_sign(direction) * g


def favours_labels(direction: str = HIGHER_IS_BETTER, treatment: str = TREATMENT,
                   control: str = CONTROL) -> tuple[str, str]:
    """The ``(left, right)`` "Favours ..." labels for an effect treatment minus control.

    ``"higher_is_better"`` (a function score, or an oriented SMD): a positive effect
    favours the treatment, named on the right of the null line; ``"higher_is_worse"``
    (pain on a VAS): the treatment is named on the left.
    """
    if direction == HIGHER_IS_BETTER:
        return f"Favours {control}", f"Favours {treatment}"
    if direction == HIGHER_IS_WORSE:
        return f"Favours {treatment}", f"Favours {control}"
    raise ValueError(
        f"direction must be 'higher_is_better' or 'higher_is_worse', got {direction!r}"
    )
