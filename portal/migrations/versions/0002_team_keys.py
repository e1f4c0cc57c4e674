"""Team S3 keys, shared by the hub and the service instead of kept in one process.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-29 20:19:19.440749
"""

import sqlalchemy as sa
from alembic import op

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('team_keys',
    sa.Column('identity', sa.String(length=128), nullable=False),
    sa.Column('access_key', sa.String(length=128), nullable=False),
    sa.Column('secret_key', sa.String(length=128), nullable=False),
    sa.Column('issued_at', sa.DateTime(), nullable=False),
    sa.Column('installed', sa.Boolean(), nullable=False),
    sa.PrimaryKeyConstraint('identity')
    )


def downgrade() -> None:
    op.drop_table('team_keys')
