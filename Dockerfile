# Latchkey container image: a static binary on distroless.
#
#   docker build -t latchkey --build-arg VERSION=$(git describe --always --dirty) .
#   docker run -p 8080:8080 -v latchkey-data:/data -e BASE_URL=https://accounts.example.com \
#     -e SESSION_SECRET=… -e SMTP_URL=smtp://… latchkey
#
# LATCHKEY_CONTAINER=1 makes the binary refuse to start in dev mode (no
# https BASE_URL) unless LATCHKEY_DEV=1 asks for it: a published port must
# not serve dev mode by omission. With LATCHKEY_DEV=1 the /dev pages still
# answer only loopback clients, so from outside the container there are
# none; dev mail (reset links included) is in `docker logs`.
#
# Base images are build arguments so a mirror or a pre-pulled image can be
# used where the public registries are not reachable.
ARG GO_IMAGE=golang:1.26-bookworm
ARG RUNTIME_IMAGE=gcr.io/distroless/static-debian12:nonroot

FROM ${GO_IMAGE} AS build
ARG VERSION=dev
WORKDIR /src
# Dependencies first, so source edits do not refetch modules.
COPY go.mod go.sum ./
RUN go mod download
COPY . .
# Generated *_templ.go files are committed: no templ step here.
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w -X main.version=${VERSION}" -o /out/latchkey . \
 && mkdir -p /out/data

FROM ${RUNTIME_IMAGE}
COPY --from=build /out/latchkey /latchkey
# /data must be writable by the nonroot user (uid 65532) of distroless.
COPY --from=build --chown=65532:65532 /out/data /data
# The working directory is / so that the dev-mode secret (./data/secret)
# lands on the volume next to the SQLite file.
WORKDIR /
ENV ADDR=:8080 DATABASE_URL=sqlite:/data/latchkey.db LATCHKEY_CONTAINER=1
VOLUME /data
USER nonroot:nonroot
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=5s CMD ["/latchkey","healthcheck"]
ENTRYPOINT ["/latchkey"]
CMD ["serve"]
