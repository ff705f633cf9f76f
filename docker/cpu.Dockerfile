# ai3 on the CPU: the portable C++ fallback plus the SYCL backend compiled at run
# time (intel-sycl-rt's SYCL-RTC) on the OpenCL CPU device (intel-opencl-rt).
# No SYCL compiler is needed: g++ builds the host code, and its headers are what
# the run-time compiler preprocesses kernels with, so the final stage keeps g++.
#   docker build -f docker/cpu.Dockerfile -t ai3:cpu .
#   docker run --rm ai3:cpu                      # the test suite
#   docker run --rm ai3:cpu python examples/demo.py
FROM python:3.11.11-slim-bookworm AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends g++=4:12.2.0-3 git=1:2.39.5-0+deb12u2 \
 && rm -rf /var/lib/apt/lists/*
RUN useradd --create-home --uid 10001 ai3
USER 10001:10001
WORKDIR /home/ai3/ai3
ENV AI3_VENV=/home/ai3/venv AI3_EXTRAS=test,sycl
COPY --chown=10001:10001 . .
RUN bash scripts/setup-venv.sh test sycl

FROM python:3.11.11-slim-bookworm
RUN apt-get update \
 && apt-get install -y --no-install-recommends g++=4:12.2.0-3 \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --create-home --uid 10001 ai3
USER 10001:10001
WORKDIR /home/ai3/ai3
ENV AI3_VENV=/home/ai3/venv AI3_EXTRAS=test,sycl PATH=/home/ai3/venv/bin:$PATH
COPY --from=build --chown=10001:10001 /home/ai3/venv /home/ai3/venv
COPY --chown=10001:10001 . .
CMD ["bash", "docker/build-and-test.sh", "cpu"]
