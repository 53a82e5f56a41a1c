# Multi-stage build: a static-glibc release binary in a distroless, non-root image.
#   docker build -t rwgate:0.1.0 .
#   docker run --rm -p 19291:19291 -p 10902:10902 rwgate:0.1.0 demo
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked --bin rwgate \
 && cp target/release/rwgate /rwgate \
 && strip /rwgate

FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /rwgate /usr/local/bin/rwgate
USER 65532:65532
EXPOSE 19291 10902
ENTRYPOINT ["/usr/local/bin/rwgate"]
CMD ["serve", "--config=/etc/rwgate/config/rwgate.yaml"]
