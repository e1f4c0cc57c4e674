"""Promotions: a commit promoted to a version, its pipeline and image digest.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30 03:00:00.000000
"""

import sqlalchemy as sa
from alembic import op

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('promotions',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('team', sa.String(length=64), nullable=False),
    sa.Column('project_id', sa.Integer(), nullable=False),
    sa.Column('project_path', sa.String(length=255), nullable=False),
    sa.Column('commit_sha', sa.String(length=64), nullable=False),
    sa.Column('version', sa.String(length=64), nullable=False),
    sa.Column('release_notes', sa.Text(), nullable=False),
    sa.Column('created_by', sa.String(length=255), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.Column('finished_at', sa.DateTime(), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('message', sa.Text(), nullable=False),
    sa.Column('base_image', sa.String(length=600), nullable=True),
    sa.Column('pipeline_id', sa.Integer(), nullable=True),
    sa.Column('pipeline_url', sa.String(length=1024), nullable=True),
    sa.Column('pipeline', sa.JSON(), nullable=False),
    sa.Column('log_tail', sa.Text(), nullable=False),
    sa.Column('image', sa.String(length=600), nullable=True),
    sa.Column('digest', sa.String(length=100), nullable=True),
    sa.Column('checks', sa.JSON(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('project_id', 'version', name='uq_promotions_project_version')
    )
    op.create_index(op.f('ix_promotions_team'), 'promotions', ['team'], unique=False)
    op.create_index(op.f('ix_promotions_status'), 'promotions', ['status'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_promotions_status'), table_name='promotions')
    op.drop_index(op.f('ix_promotions_team'), table_name='promotions')
    op.drop_table('promotions')
