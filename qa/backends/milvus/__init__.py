"""The Milvus backend: a publisher that uploads a build into versioned collections, and a reader of them."""

from qa.backends.milvus.client import MilvusBackendError, Target, current_build_id
from qa.backends.milvus.publish import drop_retired, publish, rollback
from qa.backends.milvus.reader import MilvusReader, read_manifest

__all__ = ["MilvusBackendError", "MilvusReader", "Target", "current_build_id", "drop_retired", "publish",
           "read_manifest", "rollback"]
