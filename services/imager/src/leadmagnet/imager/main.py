from leadmagnet.common.service import run_worker

from .handlers import build


def main() -> None:
    run_worker("imager", build)


if __name__ == "__main__":
    main()
