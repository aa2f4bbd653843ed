# syntax=docker/dockerfile:1
# Multi-stage build: compile TypeScript in a full install, run the compiled JS with production
# dependencies only, as the unprivileged `node` user.

# Node.js 26, the active LTS line, the same version package.json pins for npm scripts (its `node`
# devDependency). Pinned by exact version and digest (see docker-compose.yml for how the digest
# was found and how to update it).
FROM node:26.10.0-bookworm-slim@sha256:662933cf47f013bc8e4beb31a6116448427a82057ba7c42c97e4c5ba766504c2 AS build
WORKDIR /app
COPY package.json package-lock.json ./
COPY packages/client/package.json ./packages/client/
# npm install, not npm ci: see .ci/run for why. It also installs the `node` devDependency (the
# same Node.js as this image); `npm prune` drops it again with the other development packages.
RUN npm install --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build:service && npm prune --omit=dev

FROM node:26.10.0-bookworm-slim@sha256:662933cf47f013bc8e4beb31a6116448427a82057ba7c42c97e4c5ba766504c2
# Memory: V8 sizes its heap for the machine and collects late, so under load each process grew
# to 300 MB of mostly garbage (and of native HTTP/2 buffers that garbage holds). A 256 MB old
# generation, 4 MB semi-spaces and two malloc arenas keep a worker at 120 MB idle and 140-170 MB
# under load, 52-56 MB of it the node binary's shared pages (BENCHMARKS.md, Memory); the live
# heap is 30-50 MB. 4 MB semi-spaces rather than 8 save ~10 MB per process for ~2 points more of
# CPU in GC; 2 MB would save 4 MB more for 8 % of ValidateToken's rate. Override NODE_OPTIONS to
# give it more (docs/configuration.md, The Node runtime).
ENV NODE_ENV=production \
    NODE_OPTIONS="--max-old-space-size=256 --max-semi-space-size=4" \
    MALLOC_ARENA_MAX=2 \
    DATA_DIR=/data \
    HTTP_PORT=8080 \
    GRPC_PORT=50051
WORKDIR /app
# /data (embedded mode) belongs to `node`, so that a named volume mounted there starts out
# writable by it.
RUN mkdir -p /data && chown node:node /data
COPY --from=build --chown=node:node /app/node_modules ./node_modules
COPY --from=build --chown=node:node /app/dist ./dist
COPY --chown=node:node package.json ./
USER node
EXPOSE 8080 50051
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.HTTP_PORT||8080)+'/readyz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
CMD ["node", "dist/main.js"]
