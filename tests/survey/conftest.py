"""The site's fixtures (``tests.support.site``) and the respondent helpers for every test of ``survey``."""
from tests.support.respondents import compiled_translations, open_survey, respondent, small_survey  # noqa: F401
from tests.support.site import *  # noqa: F401,F403  (the site's fixtures, listed in its __all__)
