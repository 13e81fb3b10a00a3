"""webhooks and their delivery outbox; call summaries, action items and knowledge
proposals; a per-call hold against retention

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03 17:10:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('calls', schema=None) as batch_op:
        batch_op.add_column(
            sa.Column('keep', sa.Boolean(), server_default=sa.false(), nullable=False)
        )
    op.create_table(
        'webhooks',
        sa.Column('id', sa.String(length=64), nullable=False),
        sa.Column('owner', sa.String(length=128), nullable=True),
        sa.Column('url', sa.Text(), nullable=False),
        sa.Column('secret', sa.String(length=128), nullable=False),
        sa.Column('events', sa.JSON(), nullable=False),
        sa.Column('enabled', sa.Boolean(), server_default=sa.true(), nullable=False),
        sa.Column('created_by', sa.String(length=64), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_webhooks_owner', 'webhooks', ['owner'])
    op.create_table(
        'webhook_deliveries',
        sa.Column('id', sa.String(length=64), nullable=False),
        sa.Column('webhook_id', sa.String(length=64), nullable=False),
        sa.Column('event', sa.String(length=64), nullable=False),
        sa.Column('call_id', sa.String(length=64), nullable=True),
        sa.Column('payload', sa.JSON(), nullable=False),
        sa.Column('status', sa.String(length=16), nullable=False),
        sa.Column('attempts', sa.Integer(), nullable=False),
        sa.Column('next_attempt_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('last_status', sa.Integer(), nullable=True),
        sa.Column('last_error', sa.Text(), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('delivered_at', sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_webhook_deliveries_webhook_id', 'webhook_deliveries', ['webhook_id'])
    op.create_index('ix_webhook_deliveries_call_id', 'webhook_deliveries', ['call_id'])
    op.create_index('ix_webhook_deliveries_created_at', 'webhook_deliveries', ['created_at'])
    op.create_index(
        'ix_webhook_deliveries_due', 'webhook_deliveries', ['status', 'next_attempt_at']
    )
    op.create_table(
        'call_summaries',
        sa.Column('call_id', sa.String(length=64), nullable=False),
        sa.Column('summary', sa.Text(), nullable=False),
        sa.Column('sources', sa.JSON(), nullable=False),
        sa.Column('method', sa.String(length=32), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('call_id'),
    )
    op.create_table(
        'action_items',
        sa.Column('id', sa.String(length=64), nullable=False),
        sa.Column('call_id', sa.String(length=64), nullable=False),
        sa.Column('title', sa.Text(), nullable=False),
        sa.Column('assignee', sa.String(length=32), nullable=True),
        sa.Column('due_date', sa.String(length=10), nullable=True),
        sa.Column('status', sa.String(length=16), nullable=False),
        sa.Column('segment_id', sa.String(length=64), nullable=True),
        sa.Column('evidence', sa.Text(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_action_items_call_id', 'action_items', ['call_id'])
    op.create_index('ix_action_items_status', 'action_items', ['status'])
    op.create_table(
        'knowledge_proposals',
        sa.Column('id', sa.String(length=64), nullable=False),
        sa.Column('call_id', sa.String(length=64), nullable=False),
        sa.Column('owner', sa.String(length=128), nullable=True),
        sa.Column('text', sa.Text(), nullable=False),
        sa.Column('category', sa.String(length=32), nullable=False),
        sa.Column('keywords', sa.JSON(), nullable=False),
        sa.Column('confidence', sa.Float(), nullable=False),
        sa.Column('segment_id', sa.String(length=64), nullable=True),
        sa.Column('evidence', sa.Text(), nullable=False),
        sa.Column('status', sa.String(length=16), nullable=False),
        sa.Column('decided_by', sa.String(length=64), nullable=True),
        sa.Column('decided_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('kb_doc_id', sa.String(length=64), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_knowledge_proposals_call_id', 'knowledge_proposals', ['call_id'])
    op.create_index('ix_knowledge_proposals_owner', 'knowledge_proposals', ['owner'])
    op.create_index('ix_knowledge_proposals_status', 'knowledge_proposals', ['status'])


def downgrade() -> None:
    op.drop_table('knowledge_proposals')
    op.drop_table('action_items')
    op.drop_table('call_summaries')
    op.drop_table('webhook_deliveries')
    op.drop_table('webhooks')
    with op.batch_alter_table('calls', schema=None) as batch_op:
        batch_op.drop_column('keep')
