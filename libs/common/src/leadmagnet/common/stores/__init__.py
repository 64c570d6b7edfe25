from .artifacts import ArtifactStore, artifact_key
from .config import FormStore, SubmissionStore, WorkflowStore
from .documents import VersionedDocuments
from .jobs import JobStore
from .tenants import TenantStore, hash_key

__all__ = [
    "ArtifactStore",
    "FormStore",
    "JobStore",
    "SubmissionStore",
    "TenantStore",
    "VersionedDocuments",
    "WorkflowStore",
    "artifact_key",
    "hash_key",
]
