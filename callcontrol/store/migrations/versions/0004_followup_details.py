"""follow-up details: noted/resolved by and at, required, phone, call-backs; the
knowledge document an answer was saved as; the caller's voicemail

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-03 14:50:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('hitl_requests', schema=None) as batch_op:
        batch_op.add_column(sa.Column('noted_by', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('noted_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('resolved_by', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('resolved_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(
            sa.Column('followup_required', sa.Boolean(), nullable=False, server_default=sa.true())
        )
        batch_op.add_column(sa.Column('followup_phone', sa.String(length=64), nullable=True))
        batch_op.add_column(
            sa.Column('callbacks', sa.JSON(), nullable=False, server_default=sa.text("'[]'"))
        )
        batch_op.add_column(sa.Column('kb_doc_id', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('voicemail_path', sa.String(length=255), nullable=True))
        batch_op.add_column(sa.Column('voicemail_transcript', sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('hitl_requests', schema=None) as batch_op:
        batch_op.drop_column('voicemail_transcript')
        batch_op.drop_column('voicemail_path')
        batch_op.drop_column('kb_doc_id')
        batch_op.drop_column('callbacks')
        batch_op.drop_column('followup_phone')
        batch_op.drop_column('followup_required')
        batch_op.drop_column('resolved_at')
        batch_op.drop_column('resolved_by')
        batch_op.drop_column('noted_at')
        batch_op.drop_column('noted_by')
