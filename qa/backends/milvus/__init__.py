"""The Milvus backend: a publisher that uploads a build into versioned collections, and a reader of them."""

from __future__ import annotations

from pathlib import Path

from qa.backends import Manifest
from qa.backends.milvus.client import MilvusBackendError, Target, current_build_id
from qa.backends.milvus.lifecycle import drop_retired, rollback
from qa.backends.milvus.publish import publish
from qa.backends.milvus.reader import MilvusReader, read_manifest
from qa.config import Settings

__all__ = ["MilvusBackend", "MilvusBackendError", "MilvusReader", "Target", "current_build_id", "drop_retired",
           "publish", "read_manifest", "rollback"]


class MilvusBackend:
    """Builds published into versioned collections; the served one is named by the serving record."""

    def describe(self, settings: Settings) -> str:
        return f"Milvus at {settings.milvus_uri}"

    def current_build(self, settings: Settings) -> str:
        return current_build_id(settings)

    def manifest(self, settings: Settings, build_id: str) -> Manifest:
        return read_manifest(Target.from_settings(settings), build_id)

    def open(self, settings: Settings, build_id: str, manifest: Manifest) -> MilvusReader:
        return MilvusReader.loaded(Target.from_settings(settings), manifest)

    def publish(self, settings: Settings, build_dir: Path) -> str:
        return publish(settings, build_dir)

    def rollback(self, settings: Settings) -> str:
        return rollback(settings)
