# ringkv in a container: build with the Rust image, run on Debian slim.
#
#   docker build -t ringkv --build-arg RINGKV_GIT_COMMIT=$(git rev-parse --short HEAD) .
#   docker run --rm -p 127.0.0.1:7379:7379 ringkv
#   redis-cli -p 7379 PING
#
# io_uring and Docker: Docker's default seccomp profile blocks io_uring_setup,
# io_uring_enter and io_uring_register (since Docker 25; containerd's default too). ringkv then
# logs one line ("io_uring unusable, falling back to the epoll engine: io_uring_setup: EPERM,
# blocked by a seccomp filter ...") and serves with the epoll engine: everything works, with
# epoll's syscall cost. To serve with io_uring, run with a profile that allows the three calls:
# Docker's default profile (profiles/seccomp/default.json in the moby repository, for your
# Docker version) with them added to its first allow rule,
#
#   jq '.syscalls[0].names += ["io_uring_setup","io_uring_enter","io_uring_register"]' \
#     default.json > ringkv-seccomp.json
#   docker run --rm -p 127.0.0.1:7379:7379 --security-opt seccomp=ringkv-seccomp.json ringkv
#
# and check with `redis-cli -p 7379 INFO io` (io_engine:uring). See the README, "Docker".

# ---- build ----------------------------------------------------------------------------------
# The official Rust image on Debian 12; Cargo.lock's dependencies need Rust 1.88 or newer.
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
# No .git in the build context (.dockerignore): the commit comes from this build argument,
# and `ringkv-server --version` says "unknown" without it.
ARG RINGKV_GIT_COMMIT=
ENV RINGKV_GIT_COMMIT=${RINGKV_GIT_COMMIT}
RUN cargo build --release --locked --bins \
 && strip --strip-debug target/release/ringkv-server target/release/ringkv-cli

# ---- run ------------------------------------------------------------------------------------
FROM debian:bookworm-slim
RUN useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin --uid 999 ringkv
# The data directory (dump.rdb, appendonlydir), the working directory and so the default
# --dir, as /data in the official Redis image: save points are on by default and SIGTERM saves.
RUN mkdir /data && chown ringkv:ringkv /data
WORKDIR /data
VOLUME /data
COPY --from=build /src/target/release/ringkv-server /src/target/release/ringkv-cli /usr/local/bin/
COPY LICENSE /usr/share/doc/ringkv/LICENSE
USER ringkv
EXPOSE 7379
# TCP on every interface of the container; no Unix socket. Protected mode is off, as in the
# official Redis image, because clients reach the container from outside its loopback:
# publish the port on the host's loopback (-p 127.0.0.1:7379:7379) or add --requirepass.
ENTRYPOINT ["ringkv-server"]
CMD ["--bind", "0.0.0.0", "--port", "7379", "--unixsocket", "", "--protected-mode", "no"]
