"""scripted flows: the flows table and the flow a campaign's calls run

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-03 20:20:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'flows',
        sa.Column('id', sa.String(length=64), nullable=False),
        sa.Column('name', sa.String(length=100), nullable=False),
        sa.Column('owner', sa.String(length=128), nullable=False),
        sa.Column('document', sa.Text(), nullable=False),
        sa.Column('created_by', sa.String(length=64), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('owner', 'name', name='uq_flows_owner_name'),
    )
    with op.batch_alter_table('campaigns') as batch:
        batch.add_column(sa.Column('flow_id', sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('campaigns') as batch:
        batch.drop_column('flow_id')
    op.drop_table('flows')
