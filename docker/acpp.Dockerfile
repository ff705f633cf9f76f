# ai3 with SYCL compiled ahead of time by AdaptiveCpp (acpp, generic single-pass
# compiler: one binary JIT-targets CPUs via OpenMP/LLVM and GPUs it finds).
# AdaptiveCpp publishes no official image, so this builds it from a pinned tag
# against Ubuntu's LLVM 18 in a first stage.
#   docker build -f docker/acpp.Dockerfile -t ai3:acpp .
#   docker run --rm ai3:acpp
FROM ubuntu:24.04 AS acpp
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
ARG ACPP_TAG=v25.02.0
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates=20240203 git=1:2.43.0-1ubuntu7 cmake=3.28.3-1build7 \
      ninja-build=1.11.1-2 g++=4:13.2.0-7ubuntu1 llvm-18-dev=1:18.1.3-1ubuntu1 clang-18=1:18.1.3-1ubuntu1 \
      libclang-18-dev=1:18.1.3-1ubuntu1 libomp-18-dev=1:18.1.3-1ubuntu1 libboost-context-dev=1.83.0.1ubuntu2 \
      libboost-fiber-dev=1.83.0.1ubuntu2 python3=3.12.3-0ubuntu2 \
 && rm -rf /var/lib/apt/lists/*
RUN git clone --depth 1 --branch "$ACPP_TAG" https://github.com/AdaptiveCpp/AdaptiveCpp.git /tmp/acpp \
 && cmake -S /tmp/acpp -B /tmp/acpp/build -G Ninja -DCMAKE_INSTALL_PREFIX=/opt/acpp \
      -DLLVM_DIR=/usr/lib/llvm-18/cmake -DCLANG_EXECUTABLE_PATH=/usr/bin/clang++-18 \
 && cmake --build /tmp/acpp/build --target install \
 && rm -rf /tmp/acpp

FROM ubuntu:24.04
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3-venv=3.12.3-0ubuntu2 python3-dev=3.12.3-0ubuntu2 \
      g++=4:13.2.0-7ubuntu1 git=1:2.43.0-1ubuntu7 llvm-18=1:18.1.3-1ubuntu1 clang-18=1:18.1.3-1ubuntu1 \
      libomp-18-dev=1:18.1.3-1ubuntu1 libboost-context1.83.0=1.83.0-2.1ubuntu3 libboost-fiber1.83.0=1.83.0-2.1ubuntu3 \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --create-home --uid 10001 ai3
COPY --from=acpp /opt/acpp /opt/acpp
USER 10001:10001
WORKDIR /home/ai3/ai3
ENV AI3_VENV=/home/ai3/venv PATH=/opt/acpp/bin:$PATH
COPY --chown=10001:10001 . .
CMD ["bash", "docker/build-and-test.sh", "acpp"]
