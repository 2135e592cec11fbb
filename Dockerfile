# tlsrpt from Debian 12 packages: build stage with the -dev packages, runtime stage with the
# shared libraries and PostgreSQL's client tools only. Used by docker-compose.yml.
FROM debian:12 AS build
RUN apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      build-essential cmake ninja-build pkg-config libpq-dev libboost1.81-dev libmimetic-dev zlib1g-dev \
      libsimdjson-dev libpqxx-dev prometheus-cpp-dev libssl-dev libcli11-dev libtomlplusplus-dev libunbound-dev libldns-dev libopendkim-dev libpsl-dev libkainjow-mustache-dev libcap-dev \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY CMakeLists.txt ./
COPY cmake cmake
COPY ingest ingest
COPY server server
COPY migrations migrations
COPY dashboards dashboards
COPY README.md ./
# The same install step as the Debian package (cmake/Package.cmake), into a staging root.
RUN cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release -DTLSRPT_BUILD_TESTS=OFF \
    && cmake --build build --target tlsrpt tlsrpt_changelog tlsrpt_man \
    && DESTDIR=/stage cmake --install build --prefix /usr --strip

FROM debian:12-slim
RUN apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      libmimetic0v5 libsimdjson14 libpqxx-6.4 libprometheus-cpp-core1.0 libtomlplusplus3 libssl3 zlib1g libunbound8 libldns3 dns-root-data libopendkim11 libpsl5 publicsuffix libcap2 \
      ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --home-dir /var/lib/tlsrpt --create-home tlsrpt
COPY --from=build /stage/ /
USER tlsrpt
WORKDIR /var/lib/tlsrpt
# SMTP (reports mailed to tlsrpt) and HTTP (API, POST /tlsrpt, /metrics).
EXPOSE 2525 8080
ENTRYPOINT ["/usr/bin/tlsrpt"]
CMD ["serve"]
