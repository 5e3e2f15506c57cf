# The image a Kubernetes sweep's pods run (`atb sweep submit DIR --executor kubernetes`): the
# atb binary on a slim Debian, nothing else. Build the binary first, on the same Debian release
# (glibc) as this base, and put it in the build context:
#
#   cargo build --release -p atb-cli && cp "${CARGO_TARGET_DIR:-target}/release/atb" docker/atb
#   docker build -f docker/worker.Dockerfile -t REGISTRY/atb-worker:TAG docker/
#
# The worker needs no network (it reads the sweep's candle snapshots from the mounted volume).
# libstdc++ and libgomp for LightGBM; Mesa's Vulkan loader and drivers for `device = "gpu"` on
# nodes whose GPU exposes Vulkan (NVIDIA's container toolkit mounts the driver's ICD).
FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends libstdc++6 libgomp1 libvulkan1 mesa-vulkan-drivers ca-certificates \
 && rm -rf /var/lib/apt/lists/*
COPY atb /usr/local/bin/atb
# A private, writable home for anything atb keeps besides the results (kernel caches).
ENV ATB_HOME=/tmp/atb-home XDG_RUNTIME_DIR=/tmp
USER 65532:65532
ENTRYPOINT []
CMD ["atb", "--help"]
