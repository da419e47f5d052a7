"""python train.py [overrides]: compose configs/train.yaml and train (no args: the demo)."""

import hydra
from omegaconf import DictConfig

from fakeguard.cli import reports_user_errors
from fakeguard.training.run import train


@hydra.main(version_base="1.3", config_path="configs", config_name="train")
@reports_user_errors
def main(cfg: DictConfig) -> float | None:
    return train(cfg)


if __name__ == "__main__":
    main()
