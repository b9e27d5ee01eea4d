"""Where rcm keeps configuration, state and runtime files.

Three directories, each overridable through the environment so that tests and
the lab point them at a temporary folder.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Paths:
    config_dir: Path
    state_dir: Path
    runtime_dir: Path

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
