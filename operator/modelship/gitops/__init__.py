"""Git I/O for the promotion's Git strategy: find a run's commit, and make it."""

from modelship.gitops.repos import FoundCommit, GitError, GitRepos

__all__ = ["FoundCommit", "GitError", "GitRepos"]
