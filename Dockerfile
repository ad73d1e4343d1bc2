# Switchboard in a container: a Swift image builds the binary (release, Swift's standard library
# linked in), a slim Debian runs it as a non-root user.
#
#   docker build -t switchboard .
#   docker run -p 8080:8080 -v ./tokens.yaml:/run/secrets/switchboard-tokens:ro \
#     -e SWITCHBOARD_AUTH_FILE=/run/secrets/switchboard-tokens switchboard
#
# The server listens on 0.0.0.0 in the container, which it refuses to do without auth: mount a
# token file (see README "Running it in production") and name it in SWITCHBOARD_AUTH_FILE (or
# give SWITCHBOARD_TOKENS, a JWT key, …). Storage: the default is a SQLite file under
# /var/lib/switchboard/data — mount a volume there (-v switchboard-data:/var/lib/switchboard/data)
# so tasks outlive the container; or SWITCHBOARD_BACKEND=redis://… or nats://….
#
# Base images are build arguments with pinned defaults, so the image can be built from local
# ones. BINARY_STAGE=prebuilt takes a binary built outside (dist/switchboard, built with
# `swift build -c release --static-swift-stdlib --product switchboard`) instead of building it
# here: CI builds the runtime stage that way with podman (README "Containers").
ARG BUILD_IMAGE=docker.io/library/swift:6.3-bookworm
ARG RUNTIME_IMAGE=docker.io/library/debian:bookworm-slim
ARG BINARY_STAGE=build

FROM ${BUILD_IMAGE} AS build
WORKDIR /src
COPY . .
RUN swift build -c release --static-swift-stdlib --product switchboard \
    && install -D -m 0755 -s .build/release/switchboard /out/switchboard

FROM scratch AS prebuilt
COPY dist/switchboard /out/switchboard

FROM ${BINARY_STAGE} AS binary

FROM ${RUNTIME_IMAGE} AS runtime
# libcurl: Foundation's networking, linked in through the MCP Swift SDK, loads it; libsqlite3: the
# sqlite backend (a base that has both already, as CI's, skips the install).
RUN (ldconfig -p | grep -q 'libcurl\.so\.4' && ldconfig -p | grep -q 'libsqlite3\.so\.0') \
  || (apt-get update && apt-get install -y --no-install-recommends libcurl4 libsqlite3-0 && rm -rf /var/lib/apt/lists/*)
RUN useradd --system --uid 10001 --home-dir /var/lib/switchboard --create-home --shell /usr/sbin/nologin switchboard \
  && install -d -o switchboard -g switchboard /var/lib/switchboard/data
COPY --from=binary /out/switchboard /usr/local/bin/switchboard
USER switchboard
WORKDIR /var/lib/switchboard
ENV SWITCHBOARD_PORT=8080 SWITCHBOARD_DATA_DIR=/var/lib/switchboard/data
EXPOSE 8080
# `switchboard health` asks /healthz of the server in this container (no curl in the image).
HEALTHCHECK --interval=10s --timeout=3s --start-period=5s --retries=3 CMD ["switchboard", "health"]
STOPSIGNAL SIGTERM
ENTRYPOINT ["switchboard"]
CMD ["serve", "--host", "0.0.0.0"]
