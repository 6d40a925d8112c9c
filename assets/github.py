"""GitHub: commits, pull requests and releases of the configured repositories, per day.

A pull request belongs to every day something happened to it (opened, merged, closed), so it
is loaded with each of those days; staging keeps its latest load, which holds its current
state, and every metric is observed at the moment of its own event.
"""

from orchestration.clients.github import GithubClient
from orchestration.collectors.framework import Window, collector


@collector(source="github", table="github_commits", natural_key=("repository", "sha"))
def github_commits(window: Window, github: GithubClient):
    """Commits dated in the window on each repository's default branch."""
    yield from github.commits(window.start, window.end, window.log)


@collector(source="github", table="github_pull_requests", natural_key=("repository", "number"))
def github_pull_requests(window: Window, github: GithubClient):
    """Pull requests opened, merged or closed in the window, with additions and deletions."""
    yield from github.pull_requests(window.start, window.end, window.log)


@collector(source="github", table="github_releases", natural_key=("repository", "id"))
def github_releases(window: Window, github: GithubClient):
    """Releases published in the window."""
    yield from github.releases(window.start, window.end, window.log)
