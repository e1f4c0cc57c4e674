"""A test double of GitLab (REST API v4, OAuth2, pipelines) over real git repositories."""

from .double import GitLabDouble

__all__ = ["GitLabDouble"]
