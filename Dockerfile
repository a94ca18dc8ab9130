# session-vault: the CLI (and library) in an image. Build: docker build -t session-vault .
# docs/operations.md explains configuration (keys from the environment, witness, archive).
FROM node:20-bookworm-slim AS build
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund --ignore-scripts
COPY tsconfig.json tsconfig.build.json rollup.config.mjs ./
COPY src ./src
COPY drizzle ./drizzle
RUN npm run build

FROM node:20-bookworm-slim
ENV NODE_ENV=production VAULT_HOME=/data
WORKDIR /app
COPY package.json package-lock.json ./
# Runtime dependencies only (PGlite and native libsodium are optional dependencies, installed),
# plus the optional peers the image supports: S3 and KMS. An HSM image adds pkcs11js and the
# vendor's PKCS#11 library.
RUN npm ci --omit=dev --no-audit --no-fund --ignore-scripts \
 && npm install --no-save --no-audit --no-fund --ignore-scripts @aws-sdk/client-s3 @aws-sdk/client-kms \
 && npm cache clean --force
COPY --from=build /src/dist ./dist
COPY drizzle ./drizzle
RUN useradd --system --uid 10001 --home-dir /data vault && mkdir -p /data && chown vault /data && chmod 700 /data
USER vault
VOLUME ["/data"]
# session-vault serve --listen 0.0.0.0:8080 (docs/service.md)
EXPOSE 8080
ENTRYPOINT ["node", "dist/cli/bin.js"]
CMD ["--help"]
