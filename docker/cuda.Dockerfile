# ai3 on NVIDIA GPUs: cuDNN convolutions, cuBLAS linear, own CUDA kernels for
# `direct`/`smm`, plus the portable fallback. The devel image carries nvcc, cuDNN
# and cuBLAS headers; the runtime stage keeps only what the wheel loads.
#   docker build -f docker/cuda.Dockerfile -t ai3:cuda .
#   docker run --rm --gpus all ai3:cuda
FROM nvidia/cuda:13.0.1-cudnn-devel-ubuntu24.04 AS build
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3-venv=3.12.3-0ubuntu2 python3-dev=3.12.3-0ubuntu2 g++=4:13.2.0-7ubuntu1 git=1:2.43.0-1ubuntu7 \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --create-home --uid 10001 ai3
USER 10001:10001
WORKDIR /home/ai3/ai3
ENV AI3_VENV=/home/ai3/venv AI3_EXTRAS=test AI3_CUDA=ON AI3_SYCL=OFF
COPY --chown=10001:10001 . .
RUN PYTHON=python3 bash scripts/setup-venv.sh test

FROM nvidia/cuda:13.0.1-cudnn-runtime-ubuntu24.04
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3=3.12.3-0ubuntu2 python3-venv=3.12.3-0ubuntu2 \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --create-home --uid 10001 ai3
USER 10001:10001
WORKDIR /home/ai3/ai3
ENV AI3_VENV=/home/ai3/venv AI3_EXTRAS=test AI3_CUDA=ON AI3_SYCL=OFF PATH=/home/ai3/venv/bin:$PATH
COPY --from=build --chown=10001:10001 /home/ai3/venv /home/ai3/venv
COPY --chown=10001:10001 . .
CMD ["python3", "-m", "pytest", "tests", "-q", "-p", "no:cacheprovider"]
