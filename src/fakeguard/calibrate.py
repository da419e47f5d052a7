"""python -m fakeguard.calibrate ckpt_path=<best.ckpt> [out=<copy.ckpt>] [calibration.tracks=[...]]

Platt scaling of a detector's logit, fitted on the validation split of the run's data and
stored in the checkpoint, so predict, evaluate and every export apply it
(configs/calibrate.yaml)."""

import hydra
from omegaconf import DictConfig

from fakeguard.cli import reports_user_errors
from fakeguard.evaluation.calibration import calibrate

# configs/ lives at the top of the checkout (an editable install: pip install -e .)
CONFIG_PATH = "../../configs"


@hydra.main(version_base="1.3", config_path=CONFIG_PATH, config_name="calibrate")
@reports_user_errors
def main(cfg: DictConfig) -> dict[str, float]:
    return calibrate(cfg)


if __name__ == "__main__":
    main()
