"""python -m fakeguard.prepare source=... root=... out=...: media -> face crops + manifest."""

import hydra
from omegaconf import DictConfig

from fakeguard.cli import reports_user_errors
from fakeguard.data.prepare import prepare

# configs/ lives at the top of the checkout (an editable install: pip install -e .)
CONFIG_PATH = "../../configs"


@hydra.main(version_base="1.3", config_path=CONFIG_PATH, config_name="prepare")
@reports_user_errors
def main(cfg: DictConfig) -> None:
    prepare(cfg)


if __name__ == "__main__":
    main()
