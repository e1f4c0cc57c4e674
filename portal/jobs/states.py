"""A job's life: queued (waiting for its team's quota) → staging (inputs copied in) →
running → uploading (outputs copied out) → one of the finished states."""

QUEUED, STAGING, RUNNING, UPLOADING = "queued", "staging", "running", "uploading"
SUCCEEDED, FAILED, TIMEOUT, CANCELLED = "succeeded", "failed", "timeout", "cancelled"
ACTIVE = (QUEUED, STAGING, RUNNING, UPLOADING)
FINISHED = (SUCCEEDED, FAILED, TIMEOUT, CANCELLED)
STATES = ACTIVE + FINISHED
