"""questions live only in the survey's definition: drop the questions and options tables

The two tables copied each survey's questions and options out of `surveys.definition`, which
stays the one copy (`survey.questionnaires.sync.questionnaire_of` rebuilds the questions from
it); no other table refers to them, answers name their question by code. Nothing is lost by
dropping them, and a downgrade refills them from the definitions.

Revision ID: 44c2827d67e2
Revises: 1ea07c9ab318
Create Date: 2026-11-29 17:00:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '44c2827d67e2'
down_revision = '1ea07c9ab318'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('options', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_options_question_id'))
    op.drop_table('options')
    with op.batch_alter_table('questions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_questions_survey_id'))
    op.drop_table('questions')


def downgrade():
    questions = op.create_table('questions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('survey_id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=64), nullable=False),
    sa.Column('page', sa.String(length=64), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('type', sa.String(length=32), nullable=False),
    sa.Column('text', sa.JSON(), nullable=False),
    sa.Column('weighting_variable', sa.String(length=64), nullable=True),
    sa.ForeignKeyConstraint(['survey_id'], ['surveys.id'], name=op.f('fk_questions_survey_id_surveys'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_questions')),
    sa.UniqueConstraint('survey_id', 'code', name='uq_questions_survey_code')
    )
    with op.batch_alter_table('questions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_questions_survey_id'), ['survey_id'], unique=False)

    options = op.create_table('options',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('question_id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=64), nullable=False),
    sa.Column('label', sa.JSON(), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('anchored', sa.Boolean(), nullable=False),
    sa.ForeignKeyConstraint(['question_id'], ['questions.id'], name=op.f('fk_options_question_id_questions'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_options')),
    sa.UniqueConstraint('question_id', 'code', name='uq_options_question_code')
    )
    with op.batch_alter_table('options', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_options_question_id'), ['question_id'], unique=False)
    _refill(op.get_bind(), questions, options)


def _refill(connection, questions, options):
    """One row per question of each survey's (validated) definition, in page order, with its options."""
    surveys = sa.table('surveys', sa.column('id', sa.Integer()), sa.column('definition', sa.JSON()))
    for survey_id, definition in connection.execute(sa.select(surveys.c.id, surveys.c.definition)).all():
        position = 0
        for page in (definition or {}).get('pages') or []:
            for question in page.get('questions') or []:
                question_id = connection.execute(questions.insert().values(
                    survey_id=survey_id, code=question['code'], page=page['id'], position=position,
                    type=question['type'], text=question['text'],
                    weighting_variable=question.get('weighting_variable'))).inserted_primary_key[0]
                position += 1
                for index, option in enumerate(question.get('options') or []):
                    connection.execute(options.insert().values(
                        question_id=question_id, code=option['code'], label=option['label'], position=index,
                        anchored=bool(option.get('anchored', False))))
