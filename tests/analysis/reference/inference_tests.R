# Reference values for tests/analysis/test_inference.py (R survey 4.1-1):
#   Rscript inference_tests.R
# The design is b1_strata_clusters_rake.yaml's (strata, clusters, raking by calibrate(calfun = "raking")).
suppressMessages(library(survey))
options(survey.lonely.psu = "adjust", digits = 15)
df <- read.csv("poll_b.csv", stringsAsFactors = FALSE, na.strings = "")
df$.w <- df$base_weight * 3e7 / sum(df$base_weight)
des <- svydesign(ids = ~psu, strata = ~stratum, weights = ~.w, data = df, nest = TRUE)
m <- list(age_group = c("18-29" = 0.21, "30-44" = 0.27, "45-64" = 0.32, "65+" = 0.20),
          sex = c(female = 0.505, male = 0.495),
          race = c(white = 0.36, hispanic = 0.36, asian = 0.16, black = 0.06, other = 0.06),
          education = c(hs_or_less = 0.37, some_college = 0.29, ba_plus = 0.34))
vars <- names(m)
des$variables[vars] <- lapply(vars, function(n) factor(des$variables[[n]], levels = names(m[[n]])))
pop <- c(`(Intercept)` = 3e7)
for (n in vars) pop <- c(pop, setNames(m[[n]][-1] * 3e7, paste0(n, names(m[[n]])[-1])))
des <- calibrate(des, ~age_group + sex + race + education, population = pop, calfun = "raking", epsilon = 1e-10, maxit = 500)
des <- update(des, likely = ifelse(is.na(civil_war_5yr), NA, as.numeric(civil_war_5yr %in% c("very_likely", "somewhat_likely"))),
              yes = as.numeric(calexit == "yes"))
one <- svyttest(I(likely - 0.41) ~ 0, des, na.rm = TRUE)
cat("against 0.41:", one$statistic, one$parameter, one$p.value, "\n")
two <- svyttest(yes ~ I(party == "rep"), subset(des, party %in% c("dem", "rep")))
cat("rep - dem calexit yes:", two$estimate, two$statistic, two$parameter, two$p.value, "\n")
tr <- svyttest(trust ~ sex, des)
cat("male - female trust:", tr$estimate, tr$statistic, tr$parameter, tr$p.value, "\n")
g <- svygofchisq(~party, p = c(0.45, 0.22, 0.08, 0.25), des)   # dem, npp, other, rep
cat("gof party:", g$statistic, g$parameter, g$p.value, "\n")
