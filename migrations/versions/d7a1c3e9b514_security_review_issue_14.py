"""security review (issue 14): no address hash on responses; revocable sessions; sign-in back-off per address; API token expiry and scope

Revision ID: d7a1c3e9b514
Revises: fb4fede2a686
Create Date: 2026-11-29 14:20:00

Dropping responses.address_hash removes every stored value with it; nothing read it. A
downgrade brings the column back empty. Recorded sign-in failures are dropped: they are
counted per (email, address) from now on, and old ones say nothing about the address.
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'd7a1c3e9b514'
down_revision = 'fb4fede2a686'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('responses', schema=None) as batch_op:
        batch_op.drop_column('address_hash')
    with op.batch_alter_table('pollsters', schema=None) as batch_op:
        batch_op.add_column(sa.Column('session_version', sa.Integer(), server_default='0', nullable=False))
    op.execute('DELETE FROM login_failures')
    with op.batch_alter_table('login_failures', schema=None) as batch_op:
        batch_op.add_column(sa.Column('address_key', sa.String(length=64), nullable=False))
    with op.batch_alter_table('api_tokens', schema=None) as batch_op:
        batch_op.add_column(sa.Column('expires_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('survey_id', sa.Integer(), nullable=True))
        batch_op.create_foreign_key(batch_op.f('fk_api_tokens_survey_id_surveys'), 'surveys', ['survey_id'], ['id'], ondelete='CASCADE')


def downgrade():
    with op.batch_alter_table('api_tokens', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_api_tokens_survey_id_surveys'), type_='foreignkey')
        batch_op.drop_column('survey_id')
        batch_op.drop_column('expires_at')
    with op.batch_alter_table('login_failures', schema=None) as batch_op:
        batch_op.drop_column('address_key')
    with op.batch_alter_table('pollsters', schema=None) as batch_op:
        batch_op.drop_column('session_version')
    with op.batch_alter_table('responses', schema=None) as batch_op:
        batch_op.add_column(sa.Column('address_hash', sa.String(length=64), nullable=True))
