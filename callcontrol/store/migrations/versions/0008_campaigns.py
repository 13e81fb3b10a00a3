"""outbound campaigns: campaigns, contacts with their status history, uploads, and
do-not-call lists

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03 17:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'campaigns',
        sa.Column('id', sa.String(length=64), nullable=False),
        sa.Column('name', sa.String(length=200), nullable=False),
        sa.Column('owner', sa.String(length=128), nullable=True),
        sa.Column('status', sa.String(length=16), nullable=False),
        sa.Column('caller_id', sa.String(length=64), nullable=True),
        sa.Column('dialstring', sa.Text(), nullable=False),
        sa.Column('region', sa.String(length=2), nullable=False),
        sa.Column('timezone', sa.String(length=64), nullable=False),
        sa.Column('language', sa.String(length=16), nullable=True),
        sa.Column('windows', sa.JSON(), nullable=False),
        sa.Column('holidays', sa.JSON(), nullable=False),
        sa.Column('cps', sa.Float(), nullable=False),
        sa.Column('max_concurrent', sa.Integer(), nullable=False),
        sa.Column('retries', sa.JSON(), nullable=False),
        sa.Column('ring_s', sa.Integer(), nullable=False),
        sa.Column('priority', sa.Integer(), nullable=False),
        sa.Column('end_date', sa.String(length=10), nullable=True),
        sa.Column('created_by', sa.String(length=64), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_campaigns_owner', 'campaigns', ['owner'])
    op.create_index('ix_campaigns_status', 'campaigns', ['status'])
    op.create_table(
        'contacts',
        sa.Column('id', sa.String(length=64), nullable=False),
        sa.Column('campaign_id', sa.String(length=64), nullable=False),
        sa.Column('name', sa.String(length=200), nullable=True),
        sa.Column('phone', sa.String(length=32), nullable=False),
        sa.Column('timezone', sa.String(length=64), nullable=True),
        sa.Column('region', sa.String(length=8), nullable=True),
        sa.Column('language', sa.String(length=16), nullable=True),
        sa.Column('fields', sa.JSON(), nullable=False),
        sa.Column('status', sa.String(length=20), nullable=False),
        sa.Column('attempts', sa.Integer(), nullable=False),
        sa.Column('next_attempt_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('last_call_id', sa.String(length=64), nullable=True),
        sa.Column('outcome', sa.JSON(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('campaign_id', 'phone', name='uq_contacts_campaign_phone'),
    )
    op.create_index('ix_contacts_campaign_id', 'contacts', ['campaign_id'])
    op.create_index('ix_contacts_due', 'contacts', ['campaign_id', 'status', 'next_attempt_at'])
    op.create_table(
        'contact_events',
        sa.Column('id', sa.String(length=64), nullable=False),
        sa.Column('contact_id', sa.String(length=64), nullable=False),
        sa.Column('campaign_id', sa.String(length=64), nullable=False),
        sa.Column('at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('from_status', sa.String(length=20), nullable=True),
        sa.Column('to_status', sa.String(length=20), nullable=False),
        sa.Column('call_id', sa.String(length=64), nullable=True),
        sa.Column('cause', sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_contact_events_contact_id', 'contact_events', ['contact_id'])
    op.create_index('ix_contact_events_campaign_id', 'contact_events', ['campaign_id'])
    op.create_index('ix_contact_events_at', 'contact_events', ['at'])
    op.create_table(
        'contact_uploads',
        sa.Column('id', sa.String(length=64), nullable=False),
        sa.Column('campaign_id', sa.String(length=64), nullable=False),
        sa.Column('filename', sa.String(length=255), nullable=False),
        sa.Column('rows_ok', sa.Integer(), nullable=False),
        sa.Column('rows_merged', sa.Integer(), nullable=False),
        sa.Column('rows_failed', sa.Integer(), nullable=False),
        sa.Column('errors', sa.JSON(), nullable=False),
        sa.Column('created_by', sa.String(length=64), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_contact_uploads_campaign_id', 'contact_uploads', ['campaign_id'])
    op.create_table(
        'do_not_call',
        sa.Column('id', sa.String(length=64), nullable=False),
        sa.Column('owner', sa.String(length=128), nullable=False),
        sa.Column('phone', sa.String(length=32), nullable=False),
        sa.Column('reason', sa.String(length=200), nullable=True),
        sa.Column('created_by', sa.String(length=64), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('owner', 'phone', name='uq_dnc_owner_phone'),
    )
    op.create_index('ix_do_not_call_phone', 'do_not_call', ['phone'])


def downgrade() -> None:
    op.drop_table('do_not_call')
    op.drop_table('contact_uploads')
    op.drop_table('contact_events')
    op.drop_table('contacts')
    op.drop_table('campaigns')
