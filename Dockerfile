# syntax=docker/dockerfile:1
#
# Realmgate in a container: one binary, run as a non-root user, its SQLite database in a volume.
#
#   docker build -t realmgate .
#   docker run -d --name realmgate -p 127.0.0.1:8080:8080 -v realmgate-data:/var/lib/realmgate \
#     --env-file /etc/realmgate/realmgate.env --stop-timeout 15 realmgate
#
# realmgate.env holds at least REALMGATE_ENV=production, a REALMGATE_SECRET_KEY kept across
# restarts (`openssl rand -hex 64`; a new key signs everyone out), REALMGATE_PUBLIC_URL and an
# smtp:// REALMGATE_MAIL. `docker run --env-file` takes values literally: no quotes there.
#
# Every setting is in docs/configuration.md and .env.example. The first start prints the bootstrap
# admin's password once on standard output (`docker logs realmgate`).

# ---- build ------------------------------------------------------------------------------------
FROM rust:1-bookworm AS builder

# libpq for diesel's postgres feature (one binary serves SQLite and PostgreSQL); SQLite itself is
# bundled and compiled by libsqlite3-sys.
RUN apt-get update \
 && apt-get install -y --no-install-recommends libpq-dev pkg-config \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /src
# The whole tree (.dockerignore leaves out target/, .git, databases, mail and .env): Cargo.toml
# names the bench, build.rs watches migrations/, and the templates, migrations and static files
# are compiled into the binary. .cargo/config.toml carries the bundled SQLite's build flags.
COPY . .

# Cache mounts keep the crate registry and compiled dependencies between builds (BuildKit, the
# default builder since Docker 23), so a source change rebuilds only Realmgate itself. The target
# directory lives in the cache, so the binary is copied out in the same step.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/usr/local/cargo/git \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --bin realmgate \
 && install -m 0755 target/release/realmgate /usr/local/bin/realmgate

# ---- run --------------------------------------------------------------------------------------
FROM debian:bookworm-slim

# libpq5: the PostgreSQL client library the binary links; ca-certificates: TLS to PostgreSQL.
RUN apt-get update \
 && apt-get install -y --no-install-recommends libpq5 ca-certificates \
 && rm -rf /var/lib/apt/lists/*

# A dedicated user with a fixed uid, so a volume's ownership survives a rebuild.
RUN groupadd --system --gid 10001 realmgate \
 && useradd --system --uid 10001 --gid realmgate --home-dir /var/lib/realmgate \
      --no-create-home --shell /usr/sbin/nologin realmgate \
 && install -d -o realmgate -g realmgate -m 0700 /var/lib/realmgate

# Only the binary: templates (askama), migrations and the files under /static are all compiled
# into it (src/web/routes/assets.rs), so the image needs no static/ folder.
COPY --from=builder /usr/local/bin/realmgate /usr/local/bin/realmgate

# The state directory is also the working directory: relative paths resolve there (the default
# mail outbox `file:mail-outbox`, a `.env` file if one is mounted), and it is the one place the
# user may write.
WORKDIR /var/lib/realmgate
VOLUME ["/var/lib/realmgate"]

ENV REALMGATE_DATABASE_URL=/var/lib/realmgate/realmgate.db \
    REALMGATE_BIND=0.0.0.0:8080

EXPOSE 8080
USER realmgate

# No curl in the image: bash's /dev/tcp sends the request. /healthz is exempt from the Host check
# (any REALMGATE_PUBLIC_URL works) and answers 200 only when the database answers. The port is
# taken from REALMGATE_BIND, so a changed bind keeps the check right.
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
  CMD ["bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/${REALMGATE_BIND##*:} && printf 'GET /healthz HTTP/1.0\\r\\nHost: localhost:8080\\r\\n\\r\\n' >&3 && head -n 1 <&3 | grep -q ' 200 '"]

# SIGTERM (docker stop) lets requests in flight finish, up to 10 s: give it --stop-timeout 15.
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/realmgate"]
CMD ["serve"]
