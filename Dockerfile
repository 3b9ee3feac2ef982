# castbridge in a container (Docs/deployment.md, "Containers").
# Build: docker build -t castbridge .    Run: docker compose up (docker-compose.yml), or
#   docker run -p 8080:8080 -e CASTBRIDGE_AUTH=oidc -e CASTBRIDGE_OIDC_ISSUER=https://keycloak.example/realms/castbridge castbridge

# --- build: the official Swift image, a static Swift runtime so that the runtime image needs no toolchain ---
FROM swift:6.3-bookworm AS build
WORKDIR /src
# The package's manifest first: resolving its dependencies is cached until Package.swift changes.
COPY Package.swift ./
RUN swift package resolve
COPY Sources ./Sources
# Package.swift names the test targets' folders too; the release build compiles none of them.
COPY Tests ./Tests
COPY mappings ./mappings
RUN swift build -c release --product castbridge --static-swift-stdlib \
    && install -D "$(swift build -c release --show-bin-path)/castbridge" /out/castbridge

# --- runtime: slim Debian, a user of its own, nothing but castbridge, its mapping files and curl for the health check ---
FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates curl tzdata \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --user-group --home-dir /var/lib/castbridge --shell /usr/sbin/nologin castbridge \
    && install -d -o castbridge -g castbridge -m 0700 /var/lib/castbridge
COPY --from=build /out/castbridge /usr/local/bin/castbridge
COPY --from=build /src/mappings /etc/castbridge/mappings
USER castbridge
WORKDIR /var/lib/castbridge
# Every option is also a CASTBRIDGE_* variable (Docs/operations.md). Bound to every interface: castbridge then refuses
# to start without --auth (or --allow-anonymous), which the deployment must set.
ENV CASTBRIDGE_HOST=0.0.0.0 \
    CASTBRIDGE_PORT=8080 \
    CASTBRIDGE_STORE=sqlite:/var/lib/castbridge/castbridge.sqlite \
    CASTBRIDGE_MAPPINGS=/etc/castbridge/mappings \
    CASTBRIDGE_LOG_FORMAT=json
VOLUME ["/var/lib/castbridge"]
EXPOSE 8080
# Live, not ready: an orchestrator must not restart castbridge because its upstream Cast hub is down.
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
    CMD curl -fsS "http://127.0.0.1:${CASTBRIDGE_PORT}/health/live" || exit 1
ENTRYPOINT ["castbridge"]
CMD ["serve"]
