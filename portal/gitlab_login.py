"""GitLab login (auth.type: gitlab): oauthenticator's GitLabOAuthenticator, whose user's
GitLab groups become their portal teams at each login (JupyterHub managed groups).

A team names its GitLab group in its `gitlab_group` property; a GitLab group that no team
names is ignored, and a user in no team's group may not log in (operators in
`hub.admin_users` always may). Membership is then GitLab's: the portal shows it read-only.
"""

from __future__ import annotations

import json

from jupyterhub import orm
from oauthenticator.gitlab import GitLabOAuthenticator
from traitlets import Bool, default


def teams_of(gitlab_groups, teams: dict[str, str]) -> list[str]:
    """The teams whose GitLab group is one of `gitlab_groups` (paths compare case-insensitively,
    as GitLab's do); `teams` maps each team to its group path."""
    paths = {path.lower() for path in gitlab_groups}
    return sorted(team for team, group in teams.items() if group and group.lower() in paths)


class PortalGitLabAuthenticator(GitLabOAuthenticator):
    manage_groups = Bool(True, config=True, help="Teams follow GitLab group membership at each login.")

    @default("auth_state_groups_key")
    def _groups_from_gitlab(self):
        return lambda auth_state: teams_of(auth_state.get("gitlab_groups") or [], self.team_groups())

    def team_groups(self) -> dict[str, str]:
        """team → its `gitlab_group`, read from the hub database, where the portal keeps teams."""
        return {group.name: (group.properties or {}).get("gitlab_group")
                for group in self.parent.db.query(orm.Group)}

    async def update_auth_model(self, auth_model):
        """Adds the full paths of the user's GitLab groups (every page) to auth_state."""
        token = auth_model["auth_state"]["access_token"]
        paths, page = [], "1"
        while page:
            response = await self.httpfetch(
                f"{self.gitlab_api}/groups?min_access_level=10&per_page=100&page={page}", parse_json=False,
                headers={"Authorization": f"Bearer {token}", "Accept": "application/json"},
                validate_cert=self.validate_server_cert)
            paths += [group["full_path"] for group in json.loads(response.body)]
            page = response.headers.get("X-Next-Page", "")
        auth_model["auth_state"]["gitlab_groups"] = sorted(paths)
        return auth_model

    async def check_allowed(self, username, auth_model):
        return await super().check_allowed(username, auth_model) or bool(auth_model and auth_model.get("groups"))
