# syntax=docker/dockerfile:1
# corridor images, from one build:
#   docker build -t corridor:0.1.0 .                                   # the agent (default stage: runtime)
#   docker build --target iptables -t corridor:0.1.0-iptables .        # the init container: + iptables
# The Helm chart runs <image>:<tag> for the agent and <image>:<tag>-iptables for the init container.

ARG NODE_IMAGE=node:24-slim

# --- build: compile TypeScript, then keep only production dependencies -------------------------
FROM ${NODE_IMAGE} AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build \
 && npm prune --omit=dev --no-audit --no-fund

# --- iptables: the same app plus iptables, for the DaemonSet's init container --------------------
# Runs as root with NET_ADMIN only (see the chart): /iptables/install.sh, which runs the idempotent
# `corridor iptables install`.
# The node's backend decides: nft (Amazon Linux 2023, Bottlerocket, recent Debian/Ubuntu) or
# legacy (Amazon Linux 2): --build-arg IPTABLES_BACKEND=legacy.
FROM ${NODE_IMAGE} AS iptables
ARG IPTABLES_BACKEND=nft
RUN apt-get update \
 && apt-get install -y --no-install-recommends iptables \
 && rm -rf /var/lib/apt/lists/* \
 && update-alternatives --set iptables "/usr/sbin/iptables-${IPTABLES_BACKEND}" \
 && update-alternatives --set ip6tables "/usr/sbin/ip6tables-${IPTABLES_BACKEND}"
ENV NODE_ENV=production
WORKDIR /app
COPY --from=build /app/package.json ./package.json
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist/src ./dist/src
# The shell entry points (iptables/install.sh ...) call `corridor` from PATH.
COPY iptables /iptables
RUN ln -s /app/dist/src/cli/corridor.js /usr/local/bin/corridor \
 && chmod 0755 /app/dist/src/cli/corridor.js /iptables/*.sh
ENTRYPOINT ["node", "/app/dist/src/cli/corridor.js"]
CMD ["iptables", "install"]

# --- runtime: the agent, non-root, with nothing but node, dist/ and production node_modules ------
# The last stage, so a plain `docker build .` builds it.
FROM ${NODE_IMAGE} AS runtime
ENV NODE_ENV=production
WORKDIR /app
# package.json is read at run time (the version in corridor_build_info and --help).
COPY --from=build /app/package.json ./package.json
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist/src ./dist/src
# 65532: the conventional "nonroot" uid; the chart runs the agent as it with a read-only root fs.
USER 65532:65532
EXPOSE 8181 9181
# V8 settings chosen by `npm run bench:memory` (docs/performance.md, "Where the memory goes"), at 250 pods and
# 2,000 namespaces on a quiet machine: a 2 MB semi-space (the default young generation grows to
# 32 MB: +21 MB RSS for no clear CPU gain). --optimize-for-size saved 1-6 MB for 27-114% more CPU
# per answer, --single-threaded put GC and JIT on the request thread (p99 38-540 ms): not taken.
ENTRYPOINT ["node", "--max-semi-space-size=2", "/app/dist/src/cli/corridor.js"]
CMD ["agent"]
