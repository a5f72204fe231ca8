"""Meta-analysis of dexamethasone iontophoresis for running overuse injuries.

Data flow (each step takes and returns plain tables or arrays):

    data/ (Frictionless data package)
      -> analysis.data          load and validate, every problem with file:row:column
      -> analysis.effect_sizes  MD, SMD, RR/OR/RD and recoveries (SD from p, SE from CI, ...)
      -> analysis.pooling       common and random effects, batch over many meta-analyses
      -> analysis.timecourse    end of treatment versus about one month (catch-up)
      -> analysis.plots         forest plots and the catch-up chart
"""

__version__ = "0.1.0"
