"""Local processes: servers as jupyterhub-singleuser processes, one home per user.

An explicit opt-in (`spawner.backend: local`) for a machine without a container engine.
Servers run as the portal's own user, never root (engine.resolve refuses that at start);
homes live under the data directory and dev mode starts in the user's `src` folder.
Without containers nothing bounds what one server uses: GPU profiles are refused, and a
profile's CPUs and memory are counted against the team's quotas (from the hub's own
record of its running servers) but not enforced on the process.
"""

from __future__ import annotations

import os
import sys
import weakref

from jupyterhub.spawner import SimpleLocalProcessSpawner
from traitlets import default

from .quotas import Holding
from .team import TeamSpawnerMixin, refuse


class LocalTeamSpawner(TeamSpawnerMixin, SimpleLocalProcessSpawner):
    """A profile-aware SimpleLocalProcessSpawner (no container isolation)."""

    _started: weakref.WeakSet[LocalTeamSpawner] = weakref.WeakSet()  # every server of this hub process

    @default("cmd")
    def _cmd_default(self):
        # the hub's own environment, whether or not its bin/ is on PATH
        return [os.path.join(os.path.dirname(sys.executable), "jupyterhub-singleuser")]

    async def running_holdings(self) -> dict[str, Holding]:
        """The hub's own record: its servers that are starting, running or stopping.

        A server that ended (stopped, failed to start, died) is inactive and its holding
        cleared, so it holds nothing; after a hub restart none is left (cleanup_servers).
        """
        return {s.server_key: s.holding for s in self._started if s.active and s.holding}

    async def start(self):
        if self.profile.gpus:
            raise refuse(f"profile {self.profile.profile!r} needs GPUs, which only containers get. "
                         f"{self.notice}")
        self.log.warning("%s: %s", self._log_name, self.notice)
        async with self.reserved():
            self._started.add(self)
            return await super().start()

    def user_env(self, env):
        env = super().user_env(env)
        home = env["HOME"]
        os.makedirs(os.path.join(home, "src"), exist_ok=True)
        return env
