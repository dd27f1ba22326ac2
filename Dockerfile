# syntax=docker/dockerfile:1
#
# sluice container image. The image runs the compiled JavaScript (dist/, from `npm run build`),
# not the TypeScript sources: type stripping would cost ~18 MB of RSS in every pod. One stage
# compiles, one installs production dependencies, the last runs.
#
#   docker build -t ghcr.io/sluice-lb/sluice:0.1.0 .
#   docker run --rm -p 8080:8080 -p 9901:9901 \
#     -v "$PWD/config.yaml:/etc/sluice/config.yaml:ro" ghcr.io/sluice-lb/sluice:0.1.0
#
# The same tag for both stages, matching the `node` version the test suite runs on
# (package.json devDependencies). Pin a digest as well (node:24.21.0-bookworm-slim@sha256:…)
# for reproducible builds.
ARG NODE_IMAGE=node:24.21.0-bookworm-slim

# ---- build: src/*.ts -> dist/*.js ---------------------------------------------------------
FROM ${NODE_IMAGE} AS build
WORKDIR /app
COPY package.json package-lock.json ./
# --ignore-scripts: the dev-only `node` package would download a second Node binary.
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build

# ---- deps: production node_modules only -------------------------------------------------
FROM ${NODE_IMAGE} AS deps
WORKDIR /app
COPY package.json package-lock.json ./
# --omit=dev skips the dev-only `node` package (a Node binary with an install script) and the
# test tooling; --ignore-scripts because no production dependency needs an install script.
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund \
 && npm cache clean --force

# ---- runtime ------------------------------------------------------------------------------
FROM ${NODE_IMAGE}

ARG VERSION=0.1.0
ARG REVISION=unknown
ARG CREATED=unknown
LABEL org.opencontainers.image.title="sluice" \
      org.opencontainers.image.description="A Kubernetes-native HTTP load balancer: round robin, health checks, honest /status." \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.source="https://github.com/sluice-lb/sluice" \
      org.opencontainers.image.url="https://github.com/sluice-lb/sluice" \
      org.opencontainers.image.documentation="https://github.com/sluice-lb/sluice/blob/main/docs/kubernetes.md"

ENV NODE_ENV=production

WORKDIR /app
# Everything is owned by root and only readable by the runtime user: sluice writes nothing,
# so the container runs with a read-only root filesystem and no writable volume.
COPY --from=deps /app/node_modules ./node_modules
COPY package.json LICENSE ./
COPY bin ./bin
COPY --from=build /app/dist ./dist
# A default config so the image starts on its own; in Kubernetes a ConfigMap is mounted over
# /etc/sluice (as a directory, not subPath, so sluice sees updates and hot-reloads them).
COPY config.yaml /etc/sluice/config.yaml

# A numeric non-root user (not in /etc/passwd; nothing needs it to be) so Kubernetes can
# enforce runAsNonRoot without a runAsUser override.
USER 10001:10001

# 8080: proxy listener; 9901: admin listener (/status /healthz /readyz).
EXPOSE 8080 9901

# For `docker run` and Compose only (Kubernetes uses its own probes). No curl in the image:
# Node's fetch does the request. Assumes the admin listener is on its default :9901.
HEALTHCHECK --interval=10s --timeout=3s --start-period=5s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:9901/healthz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]

# Node is PID 1 and handles SIGTERM itself: readiness off, shutdown.delay, drain, exit 0.
# bin/sluice.js checks the Node version and runs dist/. The young-generation cap is a start-up
# flag (V8 reads it only then); the same value as bin/sluice.js's shebang line.
ENTRYPOINT ["node", "--max-semi-space-size=16", "/app/bin/sluice.js"]
CMD ["--config", "/etc/sluice/config.yaml"]
