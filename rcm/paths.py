"""Where rcm keeps configuration, state and runtime files.

Three directories, each overridable through the environment so that tests and
the lab point them at a temporary folder.
"""

from __future__ import annotations

import os
from pathlib import Path

from rcm.model import FrozenRecord


class Paths(FrozenRecord):
    """The three folders.  (Not a dataclass, for cfgadm's start-up time: see
    rcm.model.)"""

    __slots__ = ("config_dir", "state_dir", "runtime_dir")
    config_dir: Path
    state_dir: Path
    runtime_dir: Path

    def __init__(self, config_dir: Path, state_dir: Path, runtime_dir: Path) -> None:
        self._init(config_dir=config_dir, state_dir=state_dir, runtime_dir=runtime_dir)

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> Paths:
        env = os.environ if env is None else env
        return cls(
            Path(env.get("RCM_CONFIG_DIR", "/etc/rcm")),
            Path(env.get("RCM_STATE_DIR", "/var/lib/rcm")),
            Path(env.get("RCM_RUNTIME_DIR", "/run/rcm")),
        )

    @property
    def rcm_toml(self) -> Path:
        return self.config_dir / "rcm.toml"

    @property
    def database(self) -> Path:
        return self.state_dir / "rcm.db"

    @property
    def socket(self) -> Path:
        return self.runtime_dir / "rcmd.sock"

    @property
    def lock(self) -> Path:
        return self.runtime_dir / "rcm.lock"
