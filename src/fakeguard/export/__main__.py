"""python -m fakeguard.export ckpt_path=... format=<safetensors|onnx|gasbench> out=..."""

import hydra
from omegaconf import DictConfig

from fakeguard.cli import reports_user_errors
from fakeguard.export.run import export

# configs/ lives at the top of the checkout (an editable install: pip install -e .)
CONFIG_PATH = "../../../configs"


@hydra.main(version_base="1.3", config_path=CONFIG_PATH, config_name="export")
@reports_user_errors
def main(cfg: DictConfig) -> dict[str, float]:
    return export(cfg)


if __name__ == "__main__":
    main()
