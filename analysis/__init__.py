"""Design-based weighting and estimation for surveys, agreeing with R's `survey` package.

A pure library on pandas, numpy, scipy and statsmodels: it never imports Flask or a
database driver.
"""
