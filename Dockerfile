# syntax=docker/dockerfile:1

# Build: exactly what .ci/run builds — the same `npm ci` from the lock file (with the project's .npmrc)
# and the same `npm run build` — then production dependencies only. No native addons: the audit
# store is Node's built-in node:sqlite, so no compiler is needed.
FROM node:24-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json .npmrc ./
RUN npm ci
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build && npm prune --omit=dev && npm cache clean --force

# Runtime: production dependencies, compiled code and the knowledge in cards/, as a non-root user.
# HOST=0.0.0.0 is not loopback, so the service starts only with CDS_TRUSTED_CLIENTS (mount your own
# file: the repository's example trusts the public Sandbox and is deliberately not in the image) or
# CDS_ALLOW_UNAUTHENTICATED=true behind a gateway that authenticates EHRs (README, Security).
FROM node:24-bookworm-slim AS runtime
ENV NODE_ENV=production \
    HOST=0.0.0.0 \
    PORT=3000
WORKDIR /app
COPY package.json package-lock.json ./
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY cards ./cards
# The command line, compiled (bin/ runs dist/cli when there is no src/): glutamine-cds check, report
# (`docker run … glutamine-cds report`); validate needs the development dependencies and says so.
COPY bin ./bin
RUN ln -s /app/bin/glutamine-cds.mjs /usr/local/bin/glutamine-cds
# The fixture library, for CDS_PREVIEW=true (GET /preview) and for `glutamine-cds check --expect`.
COPY fixtures ./fixtures
# The audit database (CDS_DB_PATH) lives here; mount a volume to keep it.
RUN mkdir -p /app/data && chown node:node /app/data
VOLUME ["/app/data"]
USER node
EXPOSE 3000
HEALTHCHECK --interval=30s --timeout=3s --start-period=10s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.PORT || 3000) + '/healthz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
CMD ["node", "dist/main.js"]
