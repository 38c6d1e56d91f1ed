"""security review (issue 14): no address hash on responses

Revision ID: d7a1c3e9b514
Revises: fb4fede2a686
Create Date: 2026-11-29 14:20:00

Dropping the column removes every stored value with it; nothing read it. A downgrade brings
the column back empty.
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


def downgrade():
    with op.batch_alter_table('responses', schema=None) as batch_op:
        batch_op.add_column(sa.Column('address_hash', sa.String(length=64), nullable=True))
