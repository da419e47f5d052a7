"""python evaluate.py ckpt_path=[a.ckpt,b.ckpt] tracks=paper: checkpoints side by side on the
tracks of a set, with report.md, results.json/csv and plots (configs/evaluate.yaml)."""

import hydra
from omegaconf import DictConfig

from fakeguard.cli import reports_user_errors
from fakeguard.evaluation.runner import evaluate


@hydra.main(version_base="1.3", config_path="configs", config_name="evaluate")
@reports_user_errors
def main(cfg: DictConfig) -> dict[str, float]:
    return evaluate(cfg)


if __name__ == "__main__":
    main()
