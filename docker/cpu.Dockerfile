# ai3 on the CPU: the portable C++ fallback (the SYCL run-time path joins it with
# the SYCL backend). Build from the repository root:
#   docker build -f docker/cpu.Dockerfile -t ai3:cpu .
#   docker run --rm ai3:cpu            # runs the test suite
FROM python:3.11.11-slim-bookworm
RUN apt-get update \
 && apt-get install -y --no-install-recommends g++=4:12.2.0-3 git \
 && rm -rf /var/lib/apt/lists/*
RUN useradd --create-home ai3
USER ai3
WORKDIR /home/ai3/ai3
COPY --chown=ai3:ai3 . .
ENV AI3_VENV=/home/ai3/venv
RUN bash scripts/setup-venv.sh test
CMD ["bash", "scripts/test.sh"]
