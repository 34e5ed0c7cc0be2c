"""Statistics for reader studies of segmentation methods: pure functions on DataFrames.

One module per family:

- ``design``: input checks, method order, pairs (``A_vs_B`` = A minus B), wide tables;
- ``descriptive``: mean +- SD, median [IQR], Likert distributions;
- ``oneway``: one-way ANOVA, Fisher LSD, Welch ANOVA, Tukey HSD, Kruskal-Wallis (the paper's
  independent-groups view);
- ``contingency``: chi-square with Cramér's V, 2x2 chi-square, Fisher exact;
- ``marks``: the paper's '*' / '#' significance marks;
- ``paired``: RM-ANOVA (Greenhouse-Geisser, Huynh-Feldt), paired t, Wilcoxon, Holm / BH /
  Bonferroni, Friedman + Kendall's W, paired TOST;
- ``detection``: Cochran's Q, McNemar (exact and chi-square), Clopper-Pearson / Wilson;
- ``mixed``: linear mixed models value ~ method + (1|case) [+ (1|reader)];
- ``ordinal``: cumulative logit models (clm, Laplace clmm);
- ``agreement``: ICC (6 forms), Cohen / Fleiss kappa, Krippendorff's alpha, Kendall's W;
- ``intra_reader``: test-retest agreement of washout re-reads (kappa, ICC(A,1), exact);
- ``reading_design``: the reader x item design (complete, connected components);
- ``crossed_icc``: ICC(A,1) of incomplete designs from a crossed random-effects model;
- ``interim``: agreement while a study is being read (the Study page);
- ``bland_altman``: bias and limits of agreement of volumes;
- ``power``: paired t power and sample size;
- ``recheck``: recheck of a published mean +- SD table.

Conventions are documented in docs/statistics.md.
"""

from livseg.stats.design import StatsInputError

__all__ = ["StatsInputError"]
