#!/usr/bin/env bash
# Make sure a Docker engine answers, starting a private one when none does (root, Debian's docker.io).
# Prints the DOCKER_HOST to use:   export DOCKER_HOST=$(scripts/private-dockerd.sh)
# The private engine keeps its images in $TS_DOCKER_ROOT (default /var/lib/ts-docker) between runs, so
# rebuilt images reuse their unchanged layers. Its log: $TS_DOCKER_RUN/dockerd.log.
set -euo pipefail
answers() { DOCKER_HOST="$1" timeout 10 docker version --format '{{.Server.Version}}' >/dev/null 2>&1; }

if [ -n "${DOCKER_HOST:-}" ] && answers "$DOCKER_HOST"; then echo "$DOCKER_HOST"; exit 0; fi
if [ -z "${DOCKER_HOST:-}" ] && answers unix:///var/run/docker.sock; then echo unix:///var/run/docker.sock; exit 0; fi

root=${TS_DOCKER_ROOT:-/var/lib/ts-docker}
run=${TS_DOCKER_RUN:-/run/ts-docker}
socket="unix://$run.sock"
if answers "$socket"; then echo "$socket"; exit 0; fi
command -v dockerd >/dev/null || { echo "dockerd not found: apt-get install docker.io" >&2; exit 1; }
[ "$(id -u)" = 0 ] || { echo "no Docker engine answers and starting dockerd needs root" >&2; exit 1; }
mkdir -p "$root" "$run"
nohup dockerd --data-root "$root" --exec-root "$run" -H "$socket" --pidfile "$run.pid" \
  >"$run/dockerd.log" 2>&1 </dev/null &
for _ in $(seq 60); do
  if answers "$socket"; then echo "$socket"; exit 0; fi
  sleep 1
done
echo "dockerd did not answer on $socket within 60 s; see $run/dockerd.log" >&2
exit 1
