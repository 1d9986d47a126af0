# The sandbox runtime image, for hosts that can pull a base image. Hosts that cannot
# (air-gapped domains, this project's CI) build the same content offline with
# `sluice sandbox build-image` (debootstrap + wheels + docker import).
# The runtime's code is not copied in: the docker backend mounts sandbox/runtime at
# /runtime read-only. Build: docker build -t sluice-runtime:local .
# Use: SLUICE_SANDBOX_IMAGE=sluice-runtime:local
FROM debian:bookworm-slim

RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 python3-pip \
 && rm -rf /var/lib/apt/lists/* /usr/share/doc /usr/share/man

COPY sandbox/runtime/requirements.txt /tmp/requirements.txt
RUN python3 -m pip install --no-cache-dir --break-system-packages -r /tmp/requirements.txt \
 && rm /tmp/requirements.txt \
 && apt-get purge -y python3-pip && apt-get autoremove -y \
 && find / -xdev -type f -perm /6000 -exec chmod ug-s {} +

ENV LANG=C.UTF-8
WORKDIR /tmp
USER 65534:65534
