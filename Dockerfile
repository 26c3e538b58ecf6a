# loyaltyd container image: build on Debian 12, run on Debian 12 slim.
#
#   docker build -t loyaltyd .
#   docker run --rm -e DATABASE_URL=... -e LOYALTY_ADMIN_KEY=... -p 127.0.0.1:8080:8080 loyaltyd
#   docker run --rm -e DATABASE_URL=... loyaltyd migrate
#
# The runtime stage holds only the binary, the SQL files, the dashboard's files
# and the shared libraries it links against, plus curl for the compose healthcheck.

FROM debian:12-slim AS build

ARG DEBIAN_FRONTEND=noninteractive
RUN apt-get update \
    && apt-get install -y --no-install-recommends \
        build-essential \
        cmake \
        pkg-config \
        libmicrohttpd-dev \
        libjansson-dev \
        libpq-dev \
        libssl-dev \
        nodejs \
        npm \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /src
COPY . .
# BUILD_TESTING=OFF: the image needs only the daemon, and configuring the test
# tree would need python3 (integration tests) in this stage. The build runs
# `npm ci` for the dashboard's Chart.js (web/package-lock.json) and puts the
# dashboard's files in build/web.
RUN cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DBUILD_TESTING=OFF \
    && cmake --build build -j

FROM debian:12-slim AS runtime

ARG DEBIAN_FRONTEND=noninteractive
RUN apt-get update \
    && apt-get install -y --no-install-recommends \
        libmicrohttpd12 \
        libjansson4 \
        libpq5 \
        libssl3 \
        curl \
        ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 loyaltyd \
    && useradd --system --uid 10001 --gid loyaltyd \
        --home-dir /nonexistent --no-create-home --shell /usr/sbin/nologin loyaltyd

COPY --from=build /src/build/loyaltyd /usr/local/bin/loyaltyd
COPY --from=build /src/sql /usr/share/loyaltyd/sql
COPY --from=build /src/build/web /usr/share/loyaltyd/web

# Migrations are read from LOYALTY_SQL_DIR. The working directory is chosen so
# that the built-in default (sql/migrations) resolves to the same place.
ENV LOYALTY_SQL_DIR=/usr/share/loyaltyd/sql/migrations \
    LOYALTY_WEB_DIR=/usr/share/loyaltyd/web \
    LOYALTY_LISTEN=0.0.0.0:8080
WORKDIR /usr/share/loyaltyd

USER loyaltyd:loyaltyd
EXPOSE 8080

# `loyaltyd` alone serves; other commands (migrate, keys create, check) are
# given as arguments: `docker run IMAGE migrate`.
ENTRYPOINT ["loyaltyd"]
