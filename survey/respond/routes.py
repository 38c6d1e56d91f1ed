from flask import render_template

from survey.respond import bp


@bp.route("/")
def index():
    return render_template("respond/index.html")
