"""python -m fakeguard.benchmark_dir model_dir=<exported gasbench dir> root=<folder>

The BitMind gasbench harness's score estimated offline: a model directory loaded as the
harness loads it, the files under root/real and root/fake through its clean and augmented
passes, MCC, Brier and sn34 per pass and their 0.8/0.2 blend (configs/benchmark_dir.yaml;
what is reproduced: `fakeguard.export.harness`)."""

import hydra
from omegaconf import DictConfig

from fakeguard.cli import reports_user_errors
from fakeguard.export.benchmark import benchmark

# configs/ lives at the top of the checkout (an editable install: pip install -e .)
CONFIG_PATH = "../../configs"


@hydra.main(version_base="1.3", config_path=CONFIG_PATH, config_name="benchmark_dir")
@reports_user_errors
def main(cfg: DictConfig) -> None:
    benchmark(cfg)


if __name__ == "__main__":
    main()
