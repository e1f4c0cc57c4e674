"""Local-process fallback: servers as jupyterhub-singleuser processes, one home per user.

Used where no container engine exists. Homes live under the data directory; dev mode
starts in the user's `src` folder. Without containers a server could use every GPU, so
GPU profiles are refused rather than left unaccounted.
"""

from __future__ import annotations

import os
import sys

from jupyterhub.spawner import SimpleLocalProcessSpawner
from traitlets import default

from .team import TeamSpawnerMixin, refuse


class LocalTeamSpawner(TeamSpawnerMixin, SimpleLocalProcessSpawner):
    """A profile-aware SimpleLocalProcessSpawner (no container isolation)."""

    @default("cmd")
    def _cmd_default(self):
        # the hub's own environment, whether or not its bin/ is on PATH
        return [os.path.join(os.path.dirname(sys.executable), "jupyterhub-singleuser")]

    async def start(self):
        if self.profile.gpus:
            raise refuse(f"profile {self.profile.profile!r} needs GPUs, which only containers get. "
                         f"{self.notice}")
        self.log.warning("%s: %s", self._log_name, self.notice)
        return await super().start()

    def user_env(self, env):
        env = super().user_env(env)
        home = env["HOME"]
        os.makedirs(os.path.join(home, "src"), exist_ok=True)
        return env

    def get_args(self):
        args = super().get_args()
        if os.getuid() == 0:
            args.append("--allow-root")
        return args
