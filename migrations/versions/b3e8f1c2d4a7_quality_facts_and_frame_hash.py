"""quality facts on complete responses; a fast hash of each weighting run's frame

Each complete response keeps what the quality rules need of it (`survey.responses.quality_facts`:
duration, a signature of its answers, the largest battery straight-lined, a failed attention
check, the questionnaire version they follow), so the fieldwork page counts the flags over one
row per response instead of every answer. Existing complete responses get them here, worked
out from their stored answers by the same code as at completion.

Each weighting run keeps `frame_hash`, a hash of its frame that the results page compares
instead of writing the data file for its SHA-256 (`data_hash` stays, for the downloads);
older runs have none and are compared the old way.

Columns are added and dropped in place, never by recreating `responses` (SQLite would
cascade-delete its answers).

Revision ID: b3e8f1c2d4a7
Revises: 44c2827d67e2
Create Date: 2026-11-29 19:30:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'b3e8f1c2d4a7'
down_revision = '44c2827d67e2'
branch_labels = None
depends_on = None


def upgrade():
    op.add_column('responses', sa.Column('duration_seconds', sa.Double(), nullable=True))
    op.add_column('responses', sa.Column('answers_signature', sa.String(length=64), nullable=True))
    op.add_column('responses', sa.Column('straightlined_items', sa.Integer(), nullable=True))
    op.add_column('responses', sa.Column('attention_failed', sa.Boolean(), nullable=True))
    op.add_column('responses', sa.Column('quality_version', sa.String(length=64), nullable=True))
    op.add_column('weighting_runs', sa.Column('frame_hash', sa.String(length=64), nullable=True))

    from survey.questionnaires.validation import parse
    from survey.responses.quality_facts import record

    connection = op.get_bind()
    surveys = sa.table('surveys', sa.column('id', sa.Integer), sa.column('definition', sa.JSON),
                       sa.column('source_hash', sa.String))
    responses = sa.table('responses', sa.column('survey_id', sa.Integer), sa.column('status', sa.String))
    with_completes = sa.exists().where(responses.c.survey_id == surveys.c.id, responses.c.status == 'complete')
    for survey_id, definition, version in connection.execute(
            sa.select(surveys.c.id, surveys.c.definition, surveys.c.source_hash).where(with_completes).order_by(surveys.c.id)):
        record(connection, survey_id, parse(definition), version)


def downgrade():
    # ALTER TABLE ... DROP COLUMN in place (SQLite 3.35+)
    with op.batch_alter_table('weighting_runs', schema=None, recreate='never') as batch_op:
        batch_op.drop_column('frame_hash')
    with op.batch_alter_table('responses', schema=None, recreate='never') as batch_op:
        batch_op.drop_column('quality_version')
        batch_op.drop_column('attention_failed')
        batch_op.drop_column('straightlined_items')
        batch_op.drop_column('answers_signature')
        batch_op.drop_column('duration_seconds')
