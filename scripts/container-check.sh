#!/usr/bin/env bash
# Builds a Latchkey image without a container daemon and checks its
# configuration. No image registry is needed: the static binary is built on
# the host and copied onto scratch (scripts/Dockerfile.local), whose runtime
# lines must match the real Dockerfile's.
#
#   bash scripts/container-check.sh        # IMAGE=latchkey:local by default
#
# Where buildah is not installed it says so and exits 0. Not part of CI.
set -euo pipefail
cd "$(dirname "$0")/.."

image="${IMAGE:-latchkey:local}"

if ! command -v buildah >/dev/null 2>&1; then
  echo "container-check: buildah not installed; skipped (apt-get install buildah to enable)"
  exit 0
fi
export PATH="$PATH:/usr/local/go/bin"

fail() { echo "container-check: FAIL: $*" >&2; exit 1; }

# 1. The stand-in must describe the same runtime as the real Dockerfile
#    (USER differs: a name there, the numeric id here).
runtime_lines() {
  grep -E '^(WORKDIR /$|ENV|VOLUME|EXPOSE|HEALTHCHECK|ENTRYPOINT|CMD)' "$1"
}
if ! diff <(runtime_lines Dockerfile) <(runtime_lines scripts/Dockerfile.local); then
  fail "scripts/Dockerfile.local's runtime lines differ from Dockerfile's (see diff above)"
fi
echo "container-check: Dockerfile and scripts/Dockerfile.local agree on the runtime"

# 2. Build context: static binary, CA bundle, empty data folder.
ctx="$(mktemp -d)"
ctr=""
cleanup() {
  if [[ -n "$ctr" ]]; then buildah rm "$ctr" >/dev/null 2>&1 || true; fi
  rm -rf "$ctx"
}
trap cleanup EXIT

version="$(git describe --always --dirty 2>/dev/null || echo dev)"
CGO_ENABLED=0 go build -trimpath -ldflags="-s -w -X main.version=${version}" -o "$ctx/latchkey" .
mkdir -p "$ctx/data"
if [[ -f /etc/ssl/certs/ca-certificates.crt ]]; then
  cp /etc/ssl/certs/ca-certificates.crt "$ctx/"
else
  : >"$ctx/ca-certificates.crt"
  echo "container-check: warning: no host CA bundle; the image cannot verify SMTP TLS"
fi
echo "container-check: binary $(du -h "$ctx/latchkey" | cut -f1), version $version"

# 3. Build (docker format: OCI drops HEALTHCHECK).
old_id="$(buildah images --quiet "$image" 2>/dev/null || true)"
buildah bud --isolation chroot --format docker --quiet \
  -f scripts/Dockerfile.local -t "$image" "$ctx" >/dev/null
echo "container-check: built $image"
new_id="$(buildah images --quiet "$image")"
if [[ -n "$old_id" && "$old_id" != "$new_id" ]]; then
  buildah rmi "$old_id" >/dev/null 2>&1 || true # the previous build, now untagged
fi

# 4. Inspect the image configuration (buildah's --format has no json
#    function: values print in Go's %v form).
inspect() { buildah inspect --type image --format "$1" "$image"; }
health="$(inspect '{{.Docker.Config.Healthcheck}}')"
ports="$(inspect '{{.Docker.Config.ExposedPorts}}')"
user="$(inspect '{{.Docker.Config.User}}')"
entry="$(inspect '{{.Docker.Config.Entrypoint}} {{.Docker.Config.Cmd}}')"
envs="$(inspect '{{.Docker.Config.Env}}')"
vols="$(inspect '{{.Docker.Config.Volumes}}')"
echo "  healthcheck: $health"
echo "  ports:       $ports"
echo "  volumes:     $vols"
echo "  user:        $user"
echo "  entrypoint:  $entry"
echo "  env:         $envs"

[[ "$health" == *'[CMD /latchkey healthcheck] 30s 5s'* ]] || fail "HEALTHCHECK missing or wrong (was the image built with --format docker?)"
[[ "$ports" == *'8080/tcp'* ]] || fail "EXPOSE 8080 missing"
[[ "$vols" == *'/data:'* ]] || fail "VOLUME /data missing"
[[ "$user" == "65532:65532" ]] || fail "image does not run as uid 65532"
[[ "$entry" == '[/latchkey] [serve]' ]] || fail "ENTRYPOINT/CMD wrong"
[[ "$envs" == *' ADDR=:8080 '* && "$envs" == *'DATABASE_URL=sqlite:/data/latchkey.db'* && "$envs" == *'LATCHKEY_CONTAINER=1'* ]] || fail "ENV wrong"

# 5. /data must belong to the runtime user, and the binary must run.
ctr="$(buildah from "$image")"
if [[ $EUID -eq 0 ]]; then
  mnt_owner="$(stat -c %u:%g "$(buildah mount "$ctr")/data")"
  buildah umount "$ctr" >/dev/null
  [[ "$mnt_owner" == "65532:65532" ]] || fail "/data is owned by $mnt_owner, not 65532:65532"
  echo "  /data owner: $mnt_owner"
else
  echo "  /data owner: not checked (mounting an image needs root)"
fi
# 6. Smoke run: without BASE_URL the image refuses to start; with the
#    dev-mode opt-in it serves (as its user, on a spare loopback port) and
#    its own health check probes it.
port="${CHECK_PORT:-18089}"
run_env=(--env "ADDR=127.0.0.1:$port" --env "LATCHKEY_DEV=1")
if ! out="$(buildah run --isolation chroot "$ctr" /latchkey version 2>&1)"; then
  echo "container-check: note: buildah cannot run containers here; smoke run skipped ($out)"
else
  echo "  /latchkey version: $out"
  refused=0
  out="$(buildah run --isolation chroot --env "ADDR=127.0.0.1:$port" "$ctr" /latchkey serve 2>&1)" || refused=$?
  [[ $refused -eq 2 && "$out" == *'LATCHKEY_DEV=1'* ]] ||
    fail "the image started without BASE_URL or LATCHKEY_DEV=1 (exit $refused): $out"
  echo "  serve without BASE_URL: refused (exit 2)"
  log="$ctx/serve.log"
  timeout 60 buildah run --isolation chroot "${run_env[@]}" "$ctr" /latchkey serve >"$log" 2>&1 &
  server=$!
  healthy=""
  for _ in $(seq 1 20); do
    if buildah run --isolation chroot "${run_env[@]}" "$ctr" /latchkey healthcheck >/dev/null 2>&1; then
      healthy=yes
      break
    fi
    sleep 0.5
  done
  kill -TERM "$server" 2>/dev/null || true
  wait "$server" 2>/dev/null || true
  if [[ -z "$healthy" ]]; then
    cat "$log" >&2
    fail "the server in the image never passed 'latchkey healthcheck'"
  fi
  echo "  serve (LATCHKEY_DEV=1) + healthcheck: OK (uid 65532, SQLite under /data)"
fi

echo "container-check: OK ($image)"
