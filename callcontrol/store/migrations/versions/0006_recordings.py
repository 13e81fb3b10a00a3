"""recordings of every call, the audit log of listens and downloads, the durable job
queue, per-channel transcript segments

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03 17:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'recordings',
        sa.Column('call_id', sa.String(length=64), nullable=False),
        sa.Column('owner', sa.String(length=128), nullable=True),
        sa.Column('directory', sa.String(length=255), nullable=False),
        sa.Column('stereo_file', sa.String(length=64), nullable=False),
        sa.Column('mixed_file', sa.String(length=64), nullable=True),
        sa.Column('sample_rate', sa.Integer(), nullable=True),
        sa.Column('duration_s', sa.Float(), nullable=True),
        sa.Column('sha256', sa.String(length=64), nullable=True),
        sa.Column('encrypted', sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column('keep', sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column('status', sa.String(length=16), nullable=False),
        sa.Column('error', sa.Text(), nullable=True),
        sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint('call_id'),
    )
    op.create_index('ix_recordings_owner', 'recordings', ['owner'])
    op.create_index('ix_recordings_status', 'recordings', ['status'])
    op.create_index('ix_recordings_started_at', 'recordings', ['started_at'])
    op.create_table(
        'audit_log',
        sa.Column('id', sa.String(length=64), nullable=False),
        sa.Column('at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('operator_id', sa.String(length=64), nullable=True),
        sa.Column('username', sa.String(length=64), nullable=True),
        sa.Column('action', sa.String(length=32), nullable=False),
        sa.Column('call_id', sa.String(length=64), nullable=True),
        sa.Column('detail', sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_audit_log_at', 'audit_log', ['at'])
    op.create_index('ix_audit_log_call_id', 'audit_log', ['call_id'])
    op.create_table(
        'jobs',
        sa.Column('id', sa.String(length=64), nullable=False),
        sa.Column('kind', sa.String(length=32), nullable=False),
        sa.Column('call_id', sa.String(length=64), nullable=False),
        sa.Column('status', sa.String(length=16), nullable=False),
        sa.Column('attempts', sa.Integer(), nullable=False),
        sa.Column('progress', sa.Float(), nullable=False),
        sa.Column('error', sa.Text(), nullable=True),
        sa.Column('worker_id', sa.String(length=64), nullable=True),
        sa.Column('run_after', sa.DateTime(timezone=True), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('kind', 'call_id', name='uq_jobs_kind_call'),
    )
    op.create_index('ix_jobs_call_id', 'jobs', ['call_id'])
    op.create_index('ix_jobs_status', 'jobs', ['status'])
    op.create_index('ix_jobs_run_after', 'jobs', ['run_after'])
    op.create_table(
        'transcript_segments',
        sa.Column('id', sa.String(length=64), nullable=False),
        sa.Column('call_id', sa.String(length=64), nullable=False),
        sa.Column('channel', sa.String(length=16), nullable=False),
        sa.Column('speaker', sa.String(length=32), nullable=False),
        sa.Column('start_s', sa.Float(), nullable=False),
        sa.Column('end_s', sa.Float(), nullable=False),
        sa.Column('text', sa.Text(), nullable=False),
        sa.Column('language', sa.String(length=16), nullable=True),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_transcript_segments_call_id', 'transcript_segments', ['call_id'])


def downgrade() -> None:
    op.drop_table('transcript_segments')
    op.drop_table('jobs')
    op.drop_table('audit_log')
    op.drop_table('recordings')
