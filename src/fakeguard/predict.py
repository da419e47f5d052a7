"""python -m fakeguard.predict ckpt_path=<a.ckpt|[a,b]> input=<file|folder> out=predictions.csv

Raw videos and images -> faces (as `fakeguard.prepare` extracts them) -> the detector, or the
mean of several -> one P(fake) per file (configs/predict.yaml)."""

import hydra
from omegaconf import DictConfig

from fakeguard.cli import reports_user_errors
from fakeguard.inference.run import predict

# configs/ lives at the top of the checkout (an editable install: pip install -e .)
CONFIG_PATH = "../../configs"


@hydra.main(version_base="1.3", config_path=CONFIG_PATH, config_name="predict")
@reports_user_errors
def main(cfg: DictConfig) -> None:
    predict(cfg)


if __name__ == "__main__":
    main()
