# ai3 with SYCL compiled ahead of time by oneAPI DPC++ (icpx -fsycl) for the CPU
# and Intel GPUs (Level Zero / OpenCL), plus the portable fallback.
#   docker build -f docker/intel.Dockerfile -t ai3:intel .
#   docker run --rm --device /dev/dri ai3:intel  # with an Intel GPU
#   docker run --rm ai3:intel                    # CPU device only
# The base image's compiler and SYCL runtime are one release; dpctl must load the
# same libsycl that ai3._sycl links, so build-and-test.sh takes dpctl from the
# image's oneAPI Python packages channel pinned to that release (AI3_DPCTL).
FROM intel/oneapi-basekit:2025.3.0-0-devel-ubuntu24.04
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3-venv=3.12.3-0ubuntu2 python3-dev=3.12.3-0ubuntu2 git=1:2.43.0-1ubuntu7 \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --create-home --uid 10001 ai3
USER 10001:10001
WORKDIR /home/ai3/ai3
ENV AI3_VENV=/home/ai3/venv CXX=icpx CC=icx AI3_DPCTL="dpctl==0.21.*"
COPY --chown=10001:10001 . .
RUN python3 -m venv "$AI3_VENV" && "$AI3_VENV/bin/pip" install --no-cache-dir "$AI3_DPCTL"
CMD ["bash", "docker/build-and-test.sh", "intel"]
