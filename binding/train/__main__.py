"""`python -m binding.train` / `torchrun --nproc-per-node N -m binding.train bind ...`."""

from binding.cli_train import train_app

if __name__ == "__main__":
    train_app(prog_name="binding.train")
